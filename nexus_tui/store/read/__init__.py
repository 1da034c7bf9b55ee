"""The read side, by subject: ``plan`` turns filters and ranges into conditions and row sources (rollups or raw
rows); ``usage``, ``sessions``, ``tools``, ``efficiency``, ``quota``, ``requests`` and ``search`` ask it. Screens,
headless reports and ``mcp-serve`` call the same functions, so they always agree (docs/architecture.md)."""
