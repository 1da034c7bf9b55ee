"""The price coefficients derived by earlier commands, kept in ``<home>/price-cache.json`` (I/O edge of
core/pricing.py's coefficients cache).

A one-shot ``nexus-insights ingest`` that finds a few new lines would otherwise import genai-prices' types and tables
(≈ 0.2 s) to price them; with the coefficients of the models and days seen before it needs none of that. The file is
keyed by the installed tables (``pricing.tables_version``): other tables, and it is ignored. Never fatal: an
unreadable or malformed file is ignored and rewritten.
"""

from __future__ import annotations

import json
from pathlib import Path

from nexus_tui.core import pricing
from nexus_tui.private import private_dir, write_private

FILE = "price-cache.json"
MAX_ENTRIES = 20_000  # (model, day) pairs; the newest days are kept


def load(home: Path) -> int:
    """Preload the coefficients saved in ``home``; returns how many."""
    tag = pricing.tables_version()
    try:
        data = json.loads((Path(home) / FILE).read_text())
    except (OSError, ValueError):
        return 0
    if not isinstance(data, dict) or tag is None or data.get("tables") != tag or not isinstance(data.get("entries"), dict):
        return 0
    pricing.preload(data["entries"])
    return len(data["entries"])


def save(home: Path) -> bool:
    """Add this process's new coefficients to the file (atomically), with the coming days' of the models it priced
    (``pricing.prefill``); False when there were none or it failed."""
    import time

    pricing.prefill(int(time.time()) // 86400)
    new = pricing.new_entries()
    tag = pricing.tables_version()
    if not new or tag is None:
        return False
    path = Path(home) / FILE
    entries: dict = {}
    try:
        old = json.loads(path.read_text())
        if isinstance(old, dict) and old.get("tables") == tag and isinstance(old.get("entries"), dict):
            entries = old["entries"]
    except (OSError, ValueError):
        pass
    entries.update(new)
    if len(entries) > MAX_ENTRIES:  # keep the newest days (the key ends with the day number)
        keep = sorted(entries, key=lambda k: int(k.rsplit("\x1f", 1)[-1]) if k.rsplit("\x1f", 1)[-1].isdigit() else 0)
        entries = {k: entries[k] for k in keep[-MAX_ENTRIES:]}
    try:
        private_dir(path.parent)
        write_private(path, json.dumps({"tables": tag, "entries": entries}).encode())  # 0600, atomically
    except OSError:
        return False
    return True
