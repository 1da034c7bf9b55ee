"""Read a tool call's input or result on demand from the source file (the store keeps only where it is)."""

from __future__ import annotations

import orjson

MAX_SHOW = 4000


def read_block(path: str | None, offset: int | None, length: int | None, tool_use_id: str, kind: str) -> str:
    """The text of the tool_use input (kind='use') or tool_result content (kind='result'), trimmed; or why not."""
    if not path or offset is None or not length:
        return "(not recorded by this source)"
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            raw = f.read(length)
    except OSError:
        return f"(the source file is gone: {path} — the numbers stay in the database)"
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "(the source file changed since it was read; this line is no longer there)"
    msgs = [d]
    if isinstance(d.get("data"), dict) and isinstance(d["data"].get("message"), dict):
        msgs.append(d["data"]["message"])
    for m in msgs:
        content = (m.get("message") or {}).get("content") if isinstance(m.get("message"), dict) else None
        if not isinstance(content, list):
            continue
        for b in content:
            if not isinstance(b, dict):
                continue
            if kind == "use" and b.get("type") == "tool_use" and b.get("id") == tool_use_id:
                return _trim(orjson.dumps(b.get("input"), option=orjson.OPT_INDENT_2).decode())
            if kind == "result" and b.get("type") == "tool_result" and b.get("tool_use_id") == tool_use_id:
                c = b.get("content")
                if isinstance(c, list):
                    c = "\n".join(x.get("text", "[image]") if isinstance(x, dict) else str(x) for x in c)
                return _trim(str(c))
    return "(the source file changed since it was read; this block is no longer there)"


def _trim(s: str) -> str:
    return s if len(s) <= MAX_SHOW else s[:MAX_SHOW] + f"\n… ({len(s) - MAX_SHOW:,} more characters)"
