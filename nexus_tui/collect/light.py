"""A small ingest pass without the store's libraries: ``nexus-insights ingest`` after a few appended lines.

When the pass planned before the store is opened (``parsing.start``: cursors read with ``sqlite3``) has little to
read (at most LIGHT_MAX_BYTES, no parser workers) in a SQLite database at the current schema with no rollup mark
queued, the files are read in this process exactly as the collector reads them (``parsing.read_file``) and the rows
go through the light write (``store/lite.py``: the writer's statements through ``sqlite3``). No SQLAlchemy, SQLModel
or schema classes are imported: they were most of such a pass's time. Whenever anything is unusual (a file that
cannot be read, rows of other kinds, a machine not registered yet, a write refused) the answer is None before
anything but the machine's last-seen time is stored, and the command takes the store's path as before.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from nexus_tui.collect import tail
from nexus_tui.collect.parsing import _IDLE_SQL, Ahead, read_file
from nexus_tui.collect.sources import FileSource
from nexus_tui.core.events import add_skips, iso_from_ms
from nexus_tui.core.redact import key_of

LIGHT_MAX_BYTES = 1024 * 1024  # more than this goes through the store (and its workers)
_GROUP_RECORDS = 10_000  # the collector writes a source's rows in groups of this many: one group here


@dataclass
class LightReport:
    files_seen: int = 0
    files_read: int = 0
    bytes_read: int = 0
    lines: int = 0
    seconds: float = 0.0
    skipped: Counter = field(default_factory=Counter)
    passed_over: Counter = field(default_factory=Counter)
    written: object = None  # store.rows.WriteResult


def small_pass(db_url: str, ahead: Ahead, sources: list[FileSource], machine: str | None,
               machine_name: str | None) -> LightReport | None:
    """Run the pass ``ahead`` planned through the light write; None when it must go through the store."""
    if machine is None or ahead.pool is not None:
        return None
    if any(ahead.plans.get(s.name) is None or ahead.plans[s.name].source is not s for s in sources):
        return None
    plans = [ahead.plans[s.name] for s in sources]
    if not any(p.todo for p in plans) or sum(p.bytes for p in plans) > LIGHT_MAX_BYTES:
        return None
    from nexus_tui.store.engine import quick_select, sqlite_file
    from nexus_tui.store.version import SCHEMA_VERSION

    path = sqlite_file(db_url)
    if path is None or quick_select(db_url, _IDLE_SQL) != [(2, SCHEMA_VERSION, 0)]:
        return None
    from nexus_tui.store import lite
    from nexus_tui.store.rows import CursorUpdate, Prepared
    from nexus_tui.store.sqlite_sql import SCHEMA_VERSION as COMPILED_FOR

    if COMPILED_FOR != SCHEMA_VERSION:
        return None
    rep = LightReport()
    groups = []
    now = iso_from_ms(int(time.time() * 1000))
    for p in plans:  # as Collector._write_results: one group per source, its files in the plan's order
        rep.files_seen += p.files_seen
        rep.passed_over.update(p.passed_over)
        group, cursors = Prepared(), []
        for fpath, cur, _n in p.todo:
            try:
                fr = read_file(p.source, fpath, cur)
            except Exception:  # noqa: BLE001 - the store's path reports it
                return None
            if fr is None:
                continue
            if fr.error or not isinstance(fr.prepared, Prepared):
                return None
            rep.files_read += 1
            rep.bytes_read += fr.bytes_read
            rep.lines += fr.lines
            add_skips(rep.skipped, fr.skipped)
            if fr.incomplete:
                rep.skipped[tail.INCOMPLETE_REASON] += 1
            prev = p.cursors.get(fr.path)
            base_lines = 0 if fr.restarted or prev is None else prev.lines
            base_skip = 0 if fr.restarted or prev is None else prev.skipped
            cursors.append(CursorUpdate(
                path=key_of(fr.path), source=p.source.name, dev=fr.stat.dev, inode=fr.stat.inode, size=fr.stat.size,
                mtime_ns=fr.stat.mtime_ns, offset=fr.offset, head_hash=fr.head_hash, state=fr.state,
                lines=base_lines + fr.lines, skipped=base_skip + sum(fr.skipped.values()), last_seen=now))
            group.extend(fr.prepared)
        if group.size() >= _GROUP_RECORDS:
            return None
        if cursors:
            groups.append((group, cursors))
    res = lite.write_pass(path, groups, machine, machine_name)
    if res is None:
        return None
    rep.written = res
    rep.seconds = time.perf_counter() - ahead.started
    return rep
