"""Splitting a chunk of complete JSON Lines, shared by the line-oriented parsers."""

from __future__ import annotations

from collections.abc import Iterator

from nexus_tui.core.events import Batch
from nexus_tui.core.parse.guard import Malformed, loads


def json_lines(chunk: bytes, base_offset: int, b: Batch) -> Iterator[tuple[object, int]]:
    """Yield (decoded value, file offset) for each non-blank line; count every line in ``b.lines`` and each line
    that is not JSON as skipped ('malformed JSON'). Valid JSON that orjson refuses (deeper than 1024 levels, a lone
    surrogate escape) is decoded by ``guard.loads``'s fallback."""
    pos, n = 0, len(chunk)
    while pos < n:
        nl = chunk.find(b"\n", pos)
        end = n if nl < 0 else nl
        raw, offset = chunk[pos:end], base_offset + pos
        pos = end + 1
        b.lines += 1
        if not raw.strip():
            continue
        try:
            value = loads(raw)
        except Malformed:
            b.skip("malformed JSON")
            continue
        yield value, offset
