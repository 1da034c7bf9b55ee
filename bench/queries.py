"""Report queries on a large database: through the rollups (what the screens and reports run) against the same
numbers summed from the rows in plain SQL (the baseline, measured in the same run).

usage: python -m bench.queries [--db /tmp/nexus-bench-tui/big-1000000-20000.db] [--repeat 3]

The database is the dashboard benchmark's (``python -m bench.tui`` builds it: 1,000,000 tasks, 20,000 sessions,
500,000 tool calls); it is copied first, so its rollups are built by the migration if it has none. For each report,
range (all time, the last 7 days) and way, the best of ``--repeat`` warm runs is printed, with the ratio; the numbers
of both ways are compared (sums exactly, percentiles exactly).
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
from pathlib import Path

from sqlalchemy import text

from nexus_tui.core.filters import Filters, local_zone, preset
from nexus_tui.store import open_store
from nexus_tui.store.read import tools as RT
from nexus_tui.store.read import usage as RU


def _nearest(xs: list, p: float):
    return xs[max(0, min(len(xs) - 1, math.ceil(p / 100 * len(xs)) - 1))] if xs else None


def raw_models(conn, f: Filters) -> dict:
    """Tasks, output tokens, cost and p95 latency per model, from the rows (ORDER BY per model)."""
    where, params = _range("ts_ms", f)
    out = {}
    for model, n, tout, cost in conn.execute(text(f"SELECT model, COUNT(*), SUM(tokens_out), SUM(cost_usd) FROM tasks "
                                                  f"WHERE {where} GROUP BY model"), params):
        lat = [r[0] for r in conn.execute(text(f"SELECT latency_ms FROM tasks WHERE {where} AND model = :m AND "
                                               "latency_ms IS NOT NULL ORDER BY latency_ms"), {**params, "m": model})]
        out[model] = (n, tout, round(cost or 0, 6), _nearest(lat, 95))
    return out


def raw_tools(conn, f: Filters) -> dict:
    where, params = _range("started_ms", f)
    out = {}
    for name, server, n, fails in conn.execute(text(
            f"SELECT tool_name, mcp_server, COUNT(*), SUM(CASE WHEN success = 0 THEN 1 ELSE 0 END) FROM tool_calls "
            f"WHERE {where} AND tool_name IS NOT NULL GROUP BY tool_name, mcp_server"), params):
        lat = [r[0] for r in conn.execute(text(
            f"SELECT latency_ms FROM tool_calls WHERE {where} AND tool_name = :t AND mcp_server IS :s AND latency_ms IS "
            "NOT NULL ORDER BY latency_ms"), {**params, "t": name, "s": server})]
        out[(name, server)] = (n, fails, *[_nearest(lat, p) for p in (50, 95, 99)])
    return out


def raw_summary(conn, f: Filters) -> tuple:
    where, params = _range("ts_ms", f)
    r = conn.execute(text(f"SELECT COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cache_read_tokens), "
                          f"SUM(cache_creation_tokens), COUNT(DISTINCT session_id) FROM tasks WHERE {where}"),
                     params).one()
    return tuple(int(x or 0) for x in r)


def _range(col: str, f: Filters) -> tuple[str, dict]:
    conds, params = ["1 = 1"], {}
    if f.since_ms is not None:
        conds.append(f"{col} >= :a")
        params["a"] = f.since_ms
    if f.until_ms is not None:
        conds.append(f"{col} < :b")
        params["b"] = f.until_ms
    return " AND ".join(conds), params


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", type=Path, default=Path("/tmp/nexus-bench-tui/big-1000000-20000.db"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if not a.db.exists():
        raise SystemExit(f"{a.db} does not exist: run python -m bench.tui first (it builds it)")
    copy = a.db.with_suffix(".queries.db")
    shutil.copy(a.db, copy)
    t = time.perf_counter()
    store = open_store(f"sqlite:///{copy}")  # migrates (builds the rollups) when needed
    print(f"opened {copy.name} in {time.perf_counter() - t:.1f} s")
    e = store.engine
    with e.connect() as conn:
        counts = {n: conn.execute(text(f"SELECT COUNT(*) FROM {n}")).scalar()
                  for n in ("tasks", "tool_calls", "task_rollups", "task_hours", "tool_rollups", "tool_hours")}
    print(" · ".join(f"{k} {v:,}" for k, v in counts.items()))
    now = int(time.time() * 1000)
    tz = local_zone("UTC")
    ranges = {"all time": Filters(), "7 days": Filters(*preset("7d", now, tz), range_name="7d")}
    print(f"\n{'report':<18} {'range':<9} {'rollups':>10} {'rows (SQL)':>11} {'ratio':>7}  same numbers")
    for rname, f in ranges.items():
        with e.connect() as conn:
            cases = [
                ("summary", lambda: RU.summary(e, f), lambda: raw_summary(conn, f),
                 lambda got: (got["tasks"], got["tokens_in"], got["tokens_out"], got["cache_read_tokens"],
                              got["cache_creation_tokens"], got["sessions"])),
                ("models (p95)", lambda: RU.models(e, f), lambda: raw_models(conn, f),
                 lambda got: {d["model"]: (d["tasks"], d["tokens_out"], round(d["cost_usd"], 6), d["p95_latency_ms"])
                              for d in got}),
                ("tools (p50/95/99)", lambda: RT.tools_report(e, f), lambda: raw_tools(conn, f),
                 lambda got: {(d["tool"], d["server"]): (d["calls"], d["failures"], d["p50_ms"], d["p95_ms"],
                                                          d["p99_ms"]) for d in got}),
            ]
            for name, ours, raw, shape in cases:
                t_ours, got = best(ours, a.repeat)
                t_raw, want = best(raw, max(1, a.repeat - 1))
                same = shape(got) == want
                print(f"{name:<18} {rname:<9} {t_ours * 1000:8.0f}ms {t_raw * 1000:9.0f}ms {t_raw / t_ours:6.1f}x  "
                      f"{'yes' if same else 'NO'}")
    store.close()
    copy.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
