"""Every file source the collector reads, built from the settings (one place to add a source)."""

from __future__ import annotations

from nexus_tui.collect.sources import ClaudeCodeSource, FileSource, LunaRouteSource, NexusEventSource
from nexus_tui.config import Settings


def build_sources(settings: Settings) -> list[FileSource]:
    sources: list[FileSource] = [ClaudeCodeSource(settings.claude_dirs),
                                 NexusEventSource([settings.logs_dir], settings.reference_model),
                                 LunaRouteSource(settings.lunaroute_dirs)]
    # further sources register here (nexus event log, LunaRoute recordings, ...)
    return sources
