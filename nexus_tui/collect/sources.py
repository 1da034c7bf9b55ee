"""File sources: where their files are and which pure parser reads them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from nexus_tui.core.events import Batch


class FileSource:
    """A family of append-only JSONL files read incrementally; subclasses name a parser."""

    name = "file"

    def __init__(self, roots: list[Path]):
        self.roots = [Path(r) for r in roots]

    def files(self, passed_over: dict[str, int] | None = None) -> Iterator[str]:
        """Every ``*.jsonl`` regular file under the roots. Symbolic links below a root are not followed, neither to
        files nor to folders (a root itself may be a link); a link, FIFO, socket or device named ``*.jsonl``, and a
        link to a folder, are passed over and counted in ``passed_over`` (reason -> count), without being opened."""
        for root in self.roots:
            if not root.is_dir():
                continue
            stack = [str(root)]
            while stack:
                folder = stack.pop()
                try:
                    it = os.scandir(folder)
                except OSError:
                    continue
                with it:
                    subdirs = []
                    for e in it:
                        try:
                            if e.is_dir(follow_symlinks=False):
                                subdirs.append(e.path)
                                continue
                            if not e.name.endswith(".jsonl"):
                                if e.is_symlink() and e.is_dir():  # a linked project folder: said, not silent
                                    why = "symbolic link to a folder (not entered)"
                                    if passed_over is not None:
                                        passed_over[why] = passed_over.get(why, 0) + 1
                                continue
                            if e.is_file(follow_symlinks=False):
                                yield e.path
                                continue
                            why = "symbolic link (not followed)" if e.is_symlink() else "not a regular file"
                        except OSError:
                            why = "not a regular file"
                        if passed_over is not None:
                            passed_over[why] = passed_over.get(why, 0) + 1
                stack.extend(sorted(subdirs, reverse=True))

    def watched(self) -> list[str]:
        return [str(r) for r in self.roots if r.is_dir()]

    def parse(self, chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:  # pragma: no cover
        raise NotImplementedError

    def warm(self) -> None:
        """Load what ``parse`` needs (its parser, the price tables) now: called before parser workers are forked,
        so that they inherit it instead of each loading it again."""
        from nexus_tui.core import pricing

        pricing.warm()

    def new_state(self) -> dict:
        return {}


class ClaudeCodeSource(FileSource):
    """Claude Code transcripts under each ``projects/`` folder (every layout: flat, subagents/, sidechains)."""

    name = "claude-code"

    # The parser and the price tables load on first use (or with ``warm`` before workers are forked): a pass with
    # nothing new never needs them, and the ingest command does not wait for them before its workers start.
    def parse(self, chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:
        from nexus_tui.core.parse.claude_code import FileContext, parse_lines

        return parse_lines(chunk, base_offset, FileContext(path=path, project=self._project(path)), state)

    def warm(self) -> None:
        from nexus_tui.core.parse import claude_code  # noqa: F401

        super().warm()

    def new_state(self) -> dict:
        return {"recent": {}}

    def _project(self, path: str) -> str | None:
        p = Path(path)
        for root in self.roots:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            return rel.parts[0] if len(rel.parts) > 1 else None
        return None


class NexusEventSource(FileSource):
    """The nexus event log: ``<home>/logs/*.jsonl`` written by nexus_tui.recorder (and mcp-wrap)."""

    name = "nexus-events"

    def __init__(self, roots: list[Path], reference_model: str):
        super().__init__(roots)
        self.reference_model = reference_model

    def parse(self, chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:
        from nexus_tui.core.parse.nexus_events import parse_lines

        return parse_lines(chunk, base_offset, path, self.reference_model)


class LunaRouteSource(FileSource):
    """LunaRoute session recordings: ``<dir>/YYYY-MM-DD/<session_id>.jsonl`` (default ~/.lunaroute/sessions)."""

    name = "lunaroute"

    def parse(self, chunk: bytes, base_offset: int, path: str, state: dict) -> Batch:
        from nexus_tui.core.parse.lunaroute import parse_lines

        return parse_lines(chunk, base_offset, path, state)

    def warm(self) -> None:
        from nexus_tui.core.parse import lunaroute  # noqa: F401

        super().warm()

    def new_state(self) -> dict:
        return {"requests": {}, "sessions": {}}
