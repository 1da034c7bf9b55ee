"""Read only what was appended to a file since the saved offset, complete lines only.

Only regular files are read: a FIFO, socket or device (or a symbolic link: docs/sources.md) is passed over without
ever being opened for reading in a way that could block (``open_regular``).

A file is the one read before when its device and inode are the same, it did not shrink, its first KiB is the same
and the bytes just before the saved offset (``TAIL_BYTES``, the end of the last line consumed) are the same: a file
rewritten in place, or deleted and recreated under a reused inode, fails one of these and is re-read from the start
(natural keys make that safe). Both hashes are kept in the cursor's ``head_hash`` text (``head/tail``).

A last line without a newline waits for the next pass unless it already is a complete JSON value (a file whose
writer never ends the last line). The cursor remembers how far the file was examined (its ``size``, with the
``mtime_ns`` seen before reading), so a file whose last line never ends is not read again until it changes. A line
longer than MAX_LINE_BYTES is stepped over whole and counted once.
"""

from __future__ import annotations

try:  # the blake2b of hashlib without importing hashlib (it loads OpenSSL: a re-run's start-up counts)
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the builtin module
    from hashlib import blake2b
import os
import re
import stat as _stat
from dataclasses import dataclass

import orjson

HEAD_BYTES = 1024
TAIL_BYTES = 4096
CHUNK_BYTES = 8 * 1024 * 1024
MAX_LINE_BYTES = 64 * 1024 * 1024
OVERLONG_REASON = f"line over {MAX_LINE_BYTES // (1024 * 1024)} MiB"
INCOMPLETE_REASON = "last line without a newline (waiting for the rest)"
PENDING = -1  # read_chunk: what is left is a last line without a newline (not white space, not complete JSON)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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


def _int_or_none(v, lo: int = 0) -> int | None:
    return v if type(v) is int and v >= lo else None


def saved_cursor(row) -> SavedCursor:
    """A cursor from its stored row (offset, dev, inode, size, mtime_ns, head_hash, state, lines, skipped).

    A row with a value of the wrong type or range (a damaged database) gives a fresh cursor: the file is read again
    from the start (natural keys make that safe) and the row is rewritten, instead of failing every pass."""
    try:
        offset, dev, inode, size, mtime_ns, head, state, lines, skipped = row
    except (TypeError, ValueError):
        return SavedCursor()
    ok = (type(offset) is int and 0 <= offset
          and all(v is None or type(v) is int for v in (dev, inode, size, mtime_ns))
          and (head is None or (isinstance(head, str) and _HASH_SHAPE(head) is not None))
          and (state is None or isinstance(state, str))
          and type(lines) is int and lines >= 0 and type(skipped) is int and skipped >= 0)
    if not ok:
        return SavedCursor()
    return SavedCursor(offset, dev, inode, size, mtime_ns, head, state, lines, skipped)


def is_regular(st: os.stat_result) -> bool:
    return _stat.S_ISREG(st.st_mode)


def stat_file(path: str) -> FileStat | None:
    """The file's stat when it is a regular file (a symbolic link is not followed); None otherwise."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not _stat.S_ISREG(st.st_mode):
        return None
    return FileStat(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def open_regular(path: str):
    """``(file, FileStat)`` for a regular file, opened without following a final symbolic link and without blocking
    (a FIFO put in its place is never waited on); None when it is something else."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not _stat.S_ISREG(st.st_mode):
            os.close(fd)
            return None
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb"), FileStat(path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _digest(data: bytes) -> str:
    return f"{len(data)}:{blake2b(data, digest_size=12).hexdigest()}"


# what _parse_hash accepts, checked in one C call (every cursor is checked on every pass: 1,887 of them at 1 GB)
_HASH_SHAPE = re.compile(r"[0-9]{1,12}:[^/]*(?:/[0-9]{1,12}:[^/]*)?").fullmatch


def _parse_hash(text: str) -> tuple[int, str, int | None, str | None] | None:
    """``head`` or ``head/tail`` (each ``LEN:HEX``) → (head length, head, tail length, tail); None when malformed."""
    parts = text.split("/")
    if len(parts) > 2:
        return None
    out: list = []
    for p in parts:
        n, sep, _hex = p.partition(":")
        if not sep or not n.isdigit() or len(n) > 12:
            return None
        out += [int(n), p]
    if len(out) == 2:
        out += [None, None]
    return tuple(out)  # type: ignore[return-value]


def head_hash(f, size: int) -> str:
    n = min(size, HEAD_BYTES)
    f.seek(0)
    return _digest(f.read(n))


def identity(f, size: int, offset: int) -> str:
    """What the cursor keeps to know the file again: the hash of its first KiB and of the bytes before ``offset``."""
    head = head_hash(f, size)
    n = min(offset, TAIL_BYTES)
    if n <= 0:
        return head
    f.seek(offset - n)
    return f"{head}/{_digest(f.read(n))}"


def unchanged(st: FileStat, cur: SavedCursor | None) -> bool:
    """True when nothing can have changed since the file was last examined (no read needed)."""
    return (cur is not None and cur.inode == st.inode and cur.dev == st.dev and cur.size == st.size
            and cur.mtime_ns == st.mtime_ns and cur.offset <= st.size)


def start_offset(f, st: FileStat, cur: SavedCursor | None) -> tuple[int, bool]:
    """Where to start reading and whether the file was replaced (restart)."""
    if cur is None or cur.offset == 0:
        return 0, False
    if cur.inode != st.inode or cur.dev != st.dev or st.size < cur.offset:
        return 0, True
    if cur.head_hash:
        parsed = _parse_hash(cur.head_hash)
        if parsed is None:
            return 0, True
        head_len, head, tail_len, tail_ = parsed
        f.seek(0)
        if _digest(f.read(head_len)) != head:
            return 0, True
        if tail_len is not None:  # the bytes consumed last time end the same way
            if tail_len > cur.offset:
                return 0, True
            f.seek(cur.offset - tail_len)
            if _digest(f.read(tail_len)) != tail_:
                return 0, True
    return cur.offset, False


def read_chunk(f, offset: int, limit: int = CHUNK_BYTES) -> tuple[bytes, int]:
    """``(lines, 0)``: bytes from ``offset`` up to and including the last newline within about ``limit`` bytes (a
    line longer than ``limit`` whole); ``(b"", n)``: a line of ``n`` bytes (newline included) longer than
    MAX_LINE_BYTES starts at ``offset``, to be stepped over; ``(b"", 0)``: nothing is left (or only white space);
    ``(b"", PENDING)``: what is left is a last line without a newline. A last line with no newline is included only
    if it parses as complete JSON.

    After ``(b"", 0 or PENDING)`` the file's position is how far it was examined (its end when it was read)."""
    f.seek(offset)
    try:  # no bigger buffer than the file needs (one byte past its end tells the end from a full chunk)
        want = min(limit, max(os.fstat(f.fileno()).st_size - offset, 0) + 1)
    except (OSError, AttributeError, ValueError):
        want = limit
    data = f.read(want)
    if not data:
        return b"", 0
    nl = data.rfind(b"\n")
    if nl >= 0 and len(data) == limit:
        return data[: nl + 1], 0
    if nl < 0 and len(data) == limit:  # one very long line: keep reading until its end
        parts = [data]
        total = len(data)
        while True:
            more = f.read(limit)
            if not more:
                break
            j = more.find(b"\n")
            if j >= 0:
                if total + j + 1 > MAX_LINE_BYTES:
                    return b"", total + j + 1
                parts.append(more)
                joined = b"".join(parts)
                return joined[: total + j + 1], 0
            total += len(more)
            if total > MAX_LINE_BYTES:  # too long to keep: only look for its end
                parts = []
                while True:
                    more = f.read(limit)
                    if not more:
                        return b"", PENDING  # not ended yet: examined to the end of the file
                    j = more.find(b"\n")
                    if j >= 0:
                        return b"", total + j + 1
                    total += len(more)
            parts.append(more)
        data = b"".join(parts)
        nl = -1
    # at end of file
    tail = data[nl + 1:]
    if not tail.strip():
        return data[: nl + 1], 0
    try:
        orjson.loads(tail)
        return data, 0
    except orjson.JSONDecodeError:
        pass
    return (data[: nl + 1], 0) if nl >= 0 else (b"", PENDING)


def read_complete(f, offset: int, limit: int = CHUNK_BYTES) -> bytes:
    """Complete lines from ``offset`` (``read_chunk`` without stepping over an over-long line)."""
    return read_chunk(f, offset, limit)[0]
