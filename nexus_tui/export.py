"""``--headless tasks``: every task in range as CSV (stdout or ``--output``) or Parquet (``--output``; needs the
``parquet`` extra, pyarrow). The file is private (0600). Never imports Textual."""

from __future__ import annotations

import io
import sys

PARQUET_EXTRA = "pip install 'nexus-insights[parquet]'"


def export_tasks(engine, f, fmt: str, output: str | None) -> int:
    from nexus_tui.core import report as R
    from nexus_tui.frames import Frames
    from nexus_tui.private import write_private

    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            print(f"nexus-insights: --format parquet needs pyarrow: {PARQUET_EXTRA}", file=sys.stderr)
            return 2
    df = Frames(engine, cost_mode=f.cost_mode).tasks(filters=f)
    if fmt == "parquet":
        buf = io.BytesIO()
        df.to_parquet(buf, index=False)
        data = buf.getvalue()
    else:
        rows = [{c: _cell(v) for c, v in r.items()} for r in df.astype(object).to_dict("records")]
        text = R.to_csv(rows, list(df.columns))
        if not output:
            sys.stdout.write(text)
        data = text.encode("utf-8")
    if output:
        try:
            write_private(output, data)
        except OSError as e:  # a missing folder, a folder given as the file, no permission: said, never a traceback
            print(f"nexus-insights: cannot write {R.one_line(output)}: {R.one_line(e.strerror or e)}", file=sys.stderr)
            return 2
    if output:
        print(f"nexus-insights: {R.plural(len(df), 'task')} written to {R.one_line(output)} ({fmt})", file=sys.stderr)
    return 0


def _cell(v):
    """A frame value as the CSV writes it: missing as empty, times as UTC ISO-8601 with milliseconds."""
    import pandas as pd

    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return v
