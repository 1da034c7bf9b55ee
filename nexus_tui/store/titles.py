"""Session titles: stored from the transcripts' title lines, resolved when read.

A session's title, by precedence: its latest ``custom-title`` line (``/rename``), else its latest ``ai-title`` line,
else a ``summary`` line whose ``leafUuid`` is a message of the session (``message_uuids``; when several, the one
whose leaf message is latest; ties by title). Resolving when read means a summary written before its leaf message
was read (another file, read later) finds its session as soon as the message is stored, and the result does not
depend on the order files are read. No prompt text is stored to make a title: without one, the screens and
reports show the project and the start time (``fallback``).
"""

from __future__ import annotations

from sqlalchemy import or_, select

from nexus_tui.store.schema import MessageUuid, TitleLine
from nexus_tui.store.title_rows import (  # noqa: F401 (laid out and resolved without SQLAlchemy)
    TITLE_KINDS,
    TitlePicker,
    fallback,
    prepare_rows,
)

MU, TL = MessageUuid.__table__, TitleLine.__table__


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


def title_statements(session_ids: list[str]) -> tuple:
    """The reads of ``titles`` for a chunk of sessions: their custom and ai title lines, and the summary lines whose
    leaf message is theirs (rows for title_rows.TitlePicker.lines and .summaries)."""
    return (select(TL.c.session_id, TL.c.kind, TL.c.title, TL.c.line_offset, TL.c.id)
            .where(TL.c.session_id.in_(session_ids), TL.c.kind.in_(("custom", "ai"))),
            select(MU.c.session_id, TL.c.title, MU.c.ts_ms, TL.c.id)
            .select_from(TL.join(MU, MU.c.id == TL.c.leaf_uuid))
            .where(TL.c.kind == "summary", MU.c.session_id.in_(session_ids)))


def titles(conn, session_ids: list[str]) -> dict[str, tuple[str, str]]:
    """{session id: (title, kind)} for the sessions that have a title line."""
    pick = TitlePicker()
    for i in range(0, len(session_ids), 500):
        lines, summaries = title_statements(session_ids[i:i + 500])
        pick.lines(conn.execute(lines))
        pick.summaries(conn.execute(summaries))
    return pick.titles()


def title_of(conn, session_id: str) -> tuple[str, str] | None:
    return titles(conn, [session_id]).get(session_id)


def search_cond(S, has):
    """Sessions whose title matches ``has(column)`` (the sessions search's condition on a column)."""
    by_line = select(TL.c.session_id).where(TL.c.kind.in_(("custom", "ai")), has(TL.c.title))
    by_leaf = (select(MU.c.session_id).select_from(TL.join(MU, MU.c.id == TL.c.leaf_uuid))
               .where(TL.c.kind == "summary", has(TL.c.title)))
    return or_(S.c.id.in_(by_line), S.c.id.in_(by_leaf))



