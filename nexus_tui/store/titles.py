"""Session titles: stored from the transcripts' title lines, resolved when read.

A session's title, by precedence: its latest ``custom-title`` line (``/rename``), else its latest ``ai-title`` line,
else a ``summary`` line whose ``leafUuid`` is a message of the session (``message_uuids``; when several, the one
whose leaf message is latest; ties by title). Resolving when read means a summary written before its leaf message
was read (another file, read later) finds its session as soon as the message is stored, and the result does not
depend on the order files are read. No prompt text is stored to make a title: without one, the screens and
reports show the project and the start time (``fallback``).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import or_, select

from nexus_tui.store.schema import MessageUuid, TitleLine
from nexus_tui.store.title_rows import prepare_rows  # noqa: F401 (the rows, laid out without SQLAlchemy)

MU, TL = MessageUuid.__table__, TitleLine.__table__
TITLE_KINDS = ("custom", "ai", "summary")  # by precedence


def uuid_upsert(c):
    """A message uuid seen in two sessions keeps the smaller session id (whatever the order they are read in)."""
    from nexus_tui.store.engine import upsert

    ins = upsert(c, MU)
    return ins.on_conflict_do_update(index_elements=["id"],
                                     set_={"session_id": ins.excluded.session_id, "ts_ms": ins.excluded.ts_ms},
                                     where=ins.excluded.session_id < MU.c.session_id)


def title_insert(c):
    from nexus_tui.store.engine import upsert

    return upsert(c, TL).on_conflict_do_nothing(index_elements=["id"])


def write_rows(conn, rows: dict[str, list[tuple]], executemany) -> None:
    """Store the rows (``executemany``: the writer's compiled executemany of tuples)."""
    if rows.get("message_uuids"):
        executemany(conn, "message_uuids", uuid_upsert, MU, rows["message_uuids"])
    if rows.get("title_lines"):
        executemany(conn, "title_lines", title_insert, TL, rows["title_lines"])


def titles(conn, session_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{session id: (title, kind)} for the sessions that have a title line."""
    out: dict[str, tuple[str, str, tuple]] = {}
    rank = {k: i for i, k in enumerate(TITLE_KINDS)}

    def offer(sid, title, kind, order: tuple) -> None:
        key = (-rank[kind], *order)
        cur = out.get(sid)
        if cur is None or key > cur[2]:
            out[sid] = (title, kind, key)
    for i in range(0, len(session_ids), 500):
        ids = session_ids[i:i + 500]
        for sid, kind, title, off, lid in conn.execute(
                select(TL.c.session_id, TL.c.kind, TL.c.title, TL.c.line_offset, TL.c.id)
                .where(TL.c.session_id.in_(ids), TL.c.kind.in_(("custom", "ai")))):
            offer(sid, title, kind, (off or 0, lid))
        for sid, title, ts, lid in conn.execute(
                select(MU.c.session_id, TL.c.title, MU.c.ts_ms, TL.c.id)
                .select_from(TL.join(MU, MU.c.id == TL.c.leaf_uuid))
                .where(TL.c.kind == "summary", MU.c.session_id.in_(ids))):
            offer(sid, title, "summary", (ts or 0, title, lid))
    return {sid: (t, k) for sid, (t, k, _) in out.items()}


def title_of(conn, session_id: str) -> tuple[str, str] | None:
    return titles(conn, [session_id]).get(session_id)


def fallback(project: str | None, start_ms: int | None, tz: tzinfo) -> str:
    """The name of a session without a title: its project and its start time in ``tz``."""
    start = datetime.fromtimestamp(start_ms / 1000, tz).strftime("%Y-%m-%d %H:%M") if start_ms is not None else "-"
    return f"{project or '-'} · {start}"


def search_cond(S, like: str):
    """Sessions whose title matches ``like`` (a LIKE pattern): for the sessions search."""
    by_line = select(TL.c.session_id).where(TL.c.kind.in_(("custom", "ai")), TL.c.title.like(like))
    by_leaf = (select(MU.c.session_id).select_from(TL.join(MU, MU.c.id == TL.c.leaf_uuid))
               .where(TL.c.kind == "summary", TL.c.title.like(like)))
    return or_(S.c.id.in_(by_line), S.c.id.in_(by_leaf))



