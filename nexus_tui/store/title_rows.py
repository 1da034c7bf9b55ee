"""Session title records laid out as rows (``Prepared.rows`` kinds ``message_uuids`` and ``title_lines``), with no
SQL and no SQLAlchemy, for the writer, the light write and the parser workers (store/rows.py); reading and storing
them is store/titles.py."""

from __future__ import annotations


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
