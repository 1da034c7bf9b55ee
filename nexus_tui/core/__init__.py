"""Pure core: parsing, pricing and aggregation over plain data. No I/O, no SQL, no Textual."""
