"""nexus_tui.frames (pandas) and the task export: typed columns, the docs' example script reproducing the summary
and daily reports, CSV/Parquet exports equal to the frame, private files, a clear message without pyarrow."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO, copy_cc_tree
from tests.test_reports_contract import run

RANGE = ("--tz", "UTC", "--since", "2025-06-01", "--until", "2026-02-28")


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frames")
    copy_cc_tree(tmp / "claude")
    run(tmp, "ingest")
    return tmp


@pytest.fixture
def fr(fx):
    from nexus_tui.frames import open_frames

    with open_frames(home=fx / "nexus", tz="UTC") as f:
        yield f


def test_frames_have_typed_columns(fr):
    t = fr.tasks()
    assert str(t["time"].dtype).startswith("datetime64") and str(t["time"].dt.tz) == "UTC"
    assert t["tokens_in"].dtype == "Int64" and t["cost_usd"].dtype == "float64"
    assert t["task_id"].dtype == "string" and t["unpriced"].dtype == "boolean"
    c = fr.tool_calls()
    assert c["latency_ms"].dtype == "Int64" and c["success"].dtype == "boolean"
    assert str(c["started_time"].dtype).startswith("datetime64")
    s = fr.sessions()
    assert s["session_id"].dtype == "string" and str(s["start_time"].dtype).startswith("datetime64")
    e, q = fr.errors(), fr.quota_snapshots()
    assert str(e["time"].dtype).startswith("datetime64") and q["used_fraction"].dtype == "float64"
    assert not t["agent_id"].isin(["nan", "None"]).any()  # missing is NA, never the text "nan"


def test_frames_agree_with_the_reports_under_filters(fx, fr):
    summ = json.loads(run(fx, "--headless", "summary", "--format", "json", "--no-collect", "--project", "spotter",
                          "--tz", "UTC", "--since", "2026-02-01").stdout)
    t = fr.tasks(project="spotter", since="2026-02-01")
    assert len(t) == summ["tasks"] > 0
    assert int(t["cache_read_tokens"].sum()) == summ["cache_read_tokens"]
    assert len(fr.sessions(project="spotter", since="2026-02-01")) == summ["sessions"]
    calls = fr.tool_calls(project="spotter", since="2026-02-01")
    assert len(calls) == summ["tool_calls"] and int((calls["success"] == False).sum()) == summ["tool_failures"]  # noqa: E712
    assert len(fr.tasks(project="no-such-project")) == 0


def test_the_docs_example_reproduces_summary_and_daily(fx):
    env = dict(os.environ, HOME=str(fx), NEXUS_INSIGHTS_HOME=str(fx / "nexus"), PYTHONPATH=str(REPO))
    env.pop("NEXUS_INSIGHTS_DB", None)
    got = json.loads(subprocess.run([sys.executable, str(REPO / "docs" / "examples" / "frames_report.py"),
                                     "--since", "2025-06-01", "--until", "2026-02-28", "--tz", "UTC"], env=env,
                                    capture_output=True, text=True, check=True, timeout=120).stdout)
    summ = json.loads(run(fx, "--headless", "summary", "--format", "json", "--no-collect", *RANGE).stdout)
    for k, v in got["summary"].items():
        assert v == (pytest.approx(summ[k], abs=1e-6) if k == "cost_usd" else summ[k]), k
    daily = json.loads(run(fx, "--headless", "daily", "--format", "json", "--no-collect", *RANGE).stdout)["daily"]
    assert [d["date"] for d in got["daily"]] == [d["date"] for d in daily]
    for g, d in zip(got["daily"], daily):
        for k, v in g.items():
            assert v == (pytest.approx(d[k], abs=1e-6) if k == "cost_usd" else d[k]), (g["date"], k)


def test_tasks_export_csv_and_parquet_hold_every_task(fx, fr, tmp_path):
    frame = fr.tasks()
    out = run(fx, "--headless", "tasks", "--format", "csv", "--no-collect").stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(frame) == json.loads(run(fx, "--headless", "summary", "--format", "json",
                                                     "--no-collect").stdout)["tasks"]
    assert list(rows[0]) == list(frame.columns)
    assert sum(int(r["cache_read_tokens"] or 0) for r in rows) == int(frame["cache_read_tokens"].sum())
    pytest.importorskip("pyarrow")
    path = tmp_path / "tasks.parquet"
    r = run(fx, "--headless", "tasks", "--format", "parquet", "--output", str(path), "--no-collect")
    assert f"{len(frame)} tasks written" in r.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, frame, check_dtype=False)
    assert back["tokens_in"].dtype == "Int64" and str(back["time"].dtype).startswith("datetime64")


def test_an_output_that_cannot_be_written_is_said_not_a_traceback(fx, tmp_path):
    """--output in a folder that does not exist raised FileNotFoundError out of the command (a traceback)."""
    path = tmp_path / "no" / "such" / "folder" / "tasks.csv"
    r = run(fx, "--headless", "tasks", "--format", "csv", "--output", str(path), "--no-collect", check=False)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"cannot write {path}: No such file or directory" in r.stderr and not path.parent.exists()


def test_parquet_needs_an_output_and_pyarrow(fx, monkeypatch, capsys):
    r = run(fx, "--headless", "tasks", "--format", "parquet", "--no-collect", check=False)
    assert r.returncode == 2 and "--output FILE" in r.stderr
    r = run(fx, "--headless", "tasks", "--no-collect", check=False)
    assert r.returncode == 2 and "--format csv" in r.stderr
    from nexus_tui.export import export_tasks

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the parquet extra were not installed
    assert export_tasks(None, None, "parquet", "x.parquet") == 2
    assert "nexus-insights[parquet]" in capsys.readouterr().err
