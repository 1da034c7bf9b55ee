"""Session title records laid out as rows (``Prepared.rows`` kinds ``message_uuids`` and ``title_lines``), with no
SQL and no SQLAlchemy, for the writer, the light write and the parser workers (store/rows.py); reading and storing
them is store/titles.py."""

from __future__ import annotations

from datetime import datetime, tzinfo

TITLE_KINDS = ("custom", "ai", "summary")  # by precedence


class TitlePicker:
    """Resolves sessions' titles (store/titles.py) from the rows of titles.title_statements, offered in any
    order: {session id: (title, kind)}."""

    def __init__(self):
        self.out: dict[str, tuple[str, str, tuple]] = {}
        self.rank = {k: i for i, k in enumerate(TITLE_KINDS)}

    def _offer(self, sid, title, kind, order: tuple) -> None:
        key = (-self.rank[kind], *order)
        cur = self.out.get(sid)
        if cur is None or key > cur[2]:
            self.out[sid] = (title, kind, key)

    def lines(self, rows) -> None:
        """(session, kind, title, line offset, line id) of the custom and ai title lines."""
        for sid, kind, title, off, lid in rows:
            self._offer(sid, title, kind, (off or 0, lid))

    def summaries(self, rows) -> None:
        """(session, title, leaf message time, line id) of the summary lines."""
        for sid, title, ts, lid in rows:
            self._offer(sid, title, "summary", (ts or 0, title, lid))

    def titles(self) -> dict[str, tuple[str, str]]:
        return {sid: (t, k) for sid, (t, k, _) in self.out.items()}


def fallback(project: str | None, start_ms: int | None, tz: tzinfo) -> str:
    """The name of a session without a title: its project and its start time in ``tz``."""
    start = datetime.fromtimestamp(start_ms / 1000, tz).strftime("%Y-%m-%d %H:%M") if start_ms is not None else "-"
    return f"{project or '-'} · {start}"


def prepare_rows(titles: list[tuple]) -> dict[str, list[tuple]]:
    """A batch's title records as rows of message_uuids and title_lines (Prepared.rows kinds of the same names);
    a uuid seen twice keeps the smaller session id (as the database does)."""
    uuids: dict[str, tuple] = {}
    lines: dict[str, tuple] = {}
    for t in titles:
        if t[0] == "uuid":
            _, uuid, sid, ts = t
            old = uuids.get(uuid)
            if old is None or sid < old[1]:
                uuids[uuid] = (uuid, sid, ts)
        elif t[0] == "title":
            _, line_id, kind, title, leaf, sid, offset = t
            lines[line_id] = (line_id, kind, title, leaf, sid, offset)
    out = {}
    if uuids:
        out["message_uuids"] = list(uuids.values())
    if lines:
        out["title_lines"] = list(lines.values())
    return out
