"""Splitting a chunk of complete JSON Lines, shared by the line-oriented parsers."""

from __future__ import annotations

from collections.abc import Iterator

import orjson

from nexus_tui.core.events import Batch


def json_lines(chunk: bytes, base_offset: int, b: Batch) -> Iterator[tuple[object, int]]:
    """Yield (decoded value, file offset) for each non-blank line; count every line in ``b.lines`` and each line
    that is not JSON as skipped ('malformed JSON')."""
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
            yield orjson.loads(raw), offset
        except orjson.JSONDecodeError:
            b.skip("malformed JSON")
