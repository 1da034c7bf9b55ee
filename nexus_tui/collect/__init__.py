"""I/O edge: reading sources incrementally and handing parsed batches to the writer."""
