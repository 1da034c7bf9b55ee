"""Reusable widgets: keyed tables, the collector status bar, charts."""
