"""One module per screen; every top-level screen subclasses screens.base.InsightScreen."""
