"""Read only what was appended to a file since the saved offset, complete lines only.

A file that shrank, changed inode, or whose first bytes changed was replaced: it is re-read from the start
(natural keys make that safe). A last line without a newline waits for the next pass unless it already is
a complete JSON value (a file whose writer never ends the last line).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import orjson

HEAD_BYTES = 1024
CHUNK_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024


@dataclass
class FileStat:
    path: str
    dev: int
    inode: int
    size: int
    mtime_ns: int


@dataclass
class SavedCursor:
    offset: int = 0
    dev: int | None = None
    inode: int | None = None
    size: int | None = None
    mtime_ns: int | None = None
    head_hash: str | None = None
    state: str | None = None
    lines: int = 0
    skipped: int = 0


def stat_file(path: str) -> FileStat | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileStat(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def head_hash(f, size: int) -> str:
    n = min(size, HEAD_BYTES)
    f.seek(0)
    data = f.read(n)
    return f"{len(data)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}"


def unchanged(st: FileStat, cur: SavedCursor | None) -> bool:
    """True when nothing can have been appended since the cursor was saved (no read needed)."""
    return (cur is not None and cur.inode == st.inode and cur.dev == st.dev and cur.size == st.size
            and cur.mtime_ns == st.mtime_ns and cur.offset == st.size)


def start_offset(f, st: FileStat, cur: SavedCursor | None) -> tuple[int, bool, str]:
    """Where to start reading, whether the file was replaced (restart), and its head hash now."""
    if cur is None or cur.offset == 0:
        return 0, False, head_hash(f, st.size)
    if cur.inode != st.inode or cur.dev != st.dev or st.size < cur.offset:
        return 0, True, head_hash(f, st.size)
    # compare the head over as many bytes as were hashed last time
    if cur.head_hash:
        old_len = int(cur.head_hash.split(":", 1)[0])
        f.seek(0)
        data = f.read(old_len)
        if f"{len(data)}:{hashlib.blake2b(data, digest_size=12).hexdigest()}" != cur.head_hash:
            return 0, True, head_hash(f, st.size)
    return cur.offset, False, head_hash(f, st.size)


def read_complete(f, offset: int, limit: int = CHUNK_BYTES) -> bytes:
    """Bytes from ``offset`` up to and including the last newline within about ``limit`` bytes.

    A single line longer than ``limit`` is read whole (up to MAX_LINE_BYTES). A last line with no newline
    is included only if it parses as complete JSON.
    """
    f.seek(offset)
    try:  # no bigger buffer than the file needs (one byte past its end tells the end from a full chunk)
        want = min(limit, max(os.fstat(f.fileno()).st_size - offset, 0) + 1)
    except (OSError, AttributeError, ValueError):
        want = limit
    data = f.read(want)
    if not data:
        return b""
    nl = data.rfind(b"\n")
    if nl >= 0 and len(data) == limit:
        return data[: nl + 1]
    if nl < 0 and len(data) == limit:  # one very long line: keep reading until its end
        parts = [data]
        total = len(data)
        while total < MAX_LINE_BYTES:
            more = f.read(limit)
            if not more:
                break
            parts.append(more)
            total += len(more)
            j = more.find(b"\n")
            if j >= 0:
                joined = b"".join(parts)
                return joined[: total - len(more) + j + 1]
        data = b"".join(parts)
        nl = data.rfind(b"\n")
        if nl < 0 and total >= MAX_LINE_BYTES:
            return data  # an absurd line: hand it over, the parser counts it malformed
    # at end of file
    tail = data[nl + 1:]
    if tail.strip():
        try:
            orjson.loads(tail)
            return data
        except orjson.JSONDecodeError:
            pass
    return data[: nl + 1] if nl >= 0 else b""
