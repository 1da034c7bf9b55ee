"""nexus-insights: terminal analytics for AI coding assistants, from local data."""

__version__ = "0.2.0"
