"""Files and folders the app creates are its user's alone: files 0600, folders 0700, whatever the umask.

Every place that creates something on disk goes through here: the SQLite database (its -wal, -shm and -journal
files take the database file's mode: SQLite copies it), the price cache, the event log (recorder, mcp-wrap), the
demo copy and its transcripts. Folders that already exist are left as they are (a ``--home`` may be a shared
folder); files the app owns are tightened when it opens them.

Nothing is written, created or tightened through a symbolic link at the path written (one planted in a shared
folder would make the app append to, truncate or chmod the file it points to): ``open_private`` refuses it
(OSError ELOOP), a temporary file is made anew (``O_EXCL``), ``tighten`` leaves a link alone, and
``check_sqlite_path`` refuses a database SQLite would reach through another user's link or whose -wal, -shm or
-journal is a link.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` as a folder, creating it and any missing parent with mode 0700 (existing folders are kept as
    they are). Raises OSError like ``mkdir``."""
    path = Path(path)
    if path.is_dir():
        return path
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)  # the umask may have taken owner bits away
    if not path.is_dir():
        raise NotADirectoryError(f"not a folder: {path}")
    return path


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_LINK = "a symbolic link is there: not written through it (remove it)"


def tighten(path: str | os.PathLike) -> None:
    """Make an existing file of ours 0600 (a file someone else owns, a symbolic link, or a read-only folder: left as
    it is)."""
    try:
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o777 != FILE_MODE:
            os.chmod(path, FILE_MODE)
    except (OSError, AttributeError):
        pass


def open_private(path: str | os.PathLike, flags: int) -> int:
    """``os.open`` creating the file (if missing) with mode 0600 whatever the umask; returns the descriptor. A
    symbolic link at ``path`` is never followed: OSError (ELOOP) saying so."""
    try:
        fd = os.open(path, flags | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW, FILE_MODE)
    except OSError as e:
        if e.errno == errno.ELOOP and os.path.islink(path):
            raise OSError(errno.ELOOP, _LINK, str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if st.st_uid == os.getuid() and st.st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)
    except OSError:
        pass
    return fd


def open_append(path: str | os.PathLike) -> int:
    """``open_private`` for appending whole lines with ``append_lines`` (read access: it looks at the last byte)."""
    return open_private(path, os.O_RDWR | os.O_APPEND)


def append_lines(fd: int, data: bytes) -> bool:
    """Append ``data`` (whole lines) to ``fd``'s file in one write; True when all of it was written. When the file
    does not end with a newline (a line cut by a writer killed mid-write, or another program's), a newline goes
    first: our first line would otherwise be glued to the cut one and skipped with it as malformed. The check and
    the write hold the file's ``flock`` (appenders of this app take turns for those microseconds, so none takes
    another's write in progress for a cut line); a lock not had within 0.1 s (a holder stopped) is done without."""
    locked = False
    for _ in range(100):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            locked = True
            break
        except BlockingIOError:
            time.sleep(0.001)
        except OSError:
            break
    try:
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
        except OSError:
            pass
        return os.write(fd, data) == len(data)
    finally:
        if locked:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                pass


def touch_private(path: str | os.PathLike) -> None:
    """Create ``path`` empty with mode 0600 if it is missing; tighten it if it exists."""
    os.close(open_private(path, os.O_WRONLY))


def _written_beside(path: Path, data: bytes, tag: str) -> Path:
    """A 0600 file beside ``path`` holding ``data`` (the first step of the atomic writes below)."""
    tmp = path.with_name(f"{path.name}.{tag}{os.getpid()}")
    _unlink_quietly(tmp)  # a stale one of ours, or a link planted at the name: made anew, never written through
    fd = open_private(tmp, os.O_WRONLY | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _unlink_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def create_private(path: str | os.PathLike, data: bytes) -> bool:
    """Create ``path`` holding ``data`` (0600) only if it does not exist yet, atomically: the whole file appears at
    once or not at all (a temporary file linked into place). False when another process created it first."""
    path = Path(path)
    tmp = _written_beside(path, data, "new")
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)


def write_private(path: str | os.PathLike, data: bytes) -> None:
    """Replace ``path`` atomically by ``data`` (a 0600 temporary file beside it, then a rename)."""
    path = Path(path)
    tmp = _written_beside(path, data, "tmp")
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise


def check_sqlite_path(path: str | os.PathLike) -> None:
    """Raise OSError (ELOOP) when SQLite, opening the database ``path``, would write through a symbolic link it did
    not make: ``path`` a link owned by another user (a link of one's own is one's choice), or the -wal, -shm or
    -journal beside the file it opens (SQLite puts them beside the link's target) a link."""
    p = os.fspath(path)
    try:
        st = os.lstat(p)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode) and st.st_uid != os.getuid():
        raise OSError(errno.ELOOP, "a symbolic link of another user: the database is not opened through it", p)
    for base in dict.fromkeys((p, os.path.realpath(p))):
        for suffix in ("-wal", "-shm", "-journal"):
            if os.path.islink(base + suffix):
                raise OSError(errno.ELOOP, "a symbolic link is there: SQLite would write through it (remove it)",
                              base + suffix)
