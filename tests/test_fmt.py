"""Numbers for reading (nexus_tui.core.fmt): plurals, durations with days, one money precision per column."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_tui.core.fmt import fmt_duration, fmt_money, money_column, money_decimals, plural, plural_noun


def test_plural_counts_with_their_noun():
    assert plural(1, "session") == "1 session"
    assert plural(0, "session") == "0 sessions"
    assert plural(2, "session") == "2 sessions"
    assert plural(1234, "tool failure") == "1,234 tool failures"
    assert plural(1, "tool failure") == "1 tool failure"
    assert plural(3, "API error") == "3 API errors"
    assert plural(2, "entry") == "2 entries" and plural(2, "key") == "2 keys" and plural(2, "match") == "2 matches"
    assert plural(2, "value") == "2 values" and plural(1.0, "task") == "1 task"
    assert plural(2, "person", "people") == "2 people" and plural(1, "person", "people") == "1 person"
    assert plural(None, "task") == "- tasks"
    assert "(s)" not in plural(5, "line") and plural_noun(1, "skipped line") == "skipped line"


def test_durations_read_with_days_hours_minutes():
    assert fmt_duration(None) == "-"
    assert fmt_duration(350) == "350ms"
    assert fmt_duration(4_240) == "4.2s"
    assert fmt_duration(41_000) == "41s"
    assert fmt_duration(12 * 60_000 + 5_000) == "12m 05s"
    assert fmt_duration((2 * 60 + 5) * 60_000) == "2h 05m"
    assert fmt_duration(7079.3 * 3_600_000) == "294d 23h"  # not "7079.3h"
    assert fmt_duration((3 * 24 + 4) * 3_600_000) == "3d 4h"
    assert fmt_duration(59_999) == "1m 00s" and fmt_duration(3_599_999) == "1h 00m"
    assert fmt_duration(float("nan")) == "-"


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=400 * 86_400_000))
def test_duration_parts_add_up_to_the_value(ms):
    """What a duration reads as is the value, to the precision of its smallest unit."""
    text = fmt_duration(ms)
    unit_ms = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
    total, smallest = 0.0, None
    for part in text.split():
        num = part.rstrip("msdh")
        unit = part[len(num):]
        total += float(num) * unit_ms[unit]
        smallest = unit_ms[unit] if unit != "s" or "." not in num else 100
    assert abs(total - ms) <= smallest / 2 + 1e-6, (ms, text)
    assert "." not in text or text.endswith("s") and len(text.split()) == 1


def test_money_one_precision_per_column():
    assert money_column([1.5, 0.004, 120.0]) == ["$1.50", "<$0.01", "$120.00"]
    assert money_column([0.5, 0.004, 0.0]) == ["$0.5000", "$0.0040", "$0.0000"]
    assert money_column([0.12, 0.34]) == ["$0.12", "$0.34"]
    assert money_column([None, 2]) == ["-", "$2.00"]
    assert money_decimals([]) == 2 and money_decimals([0.0, 0.0]) == 2
    assert fmt_money(1234.5) == "$1,234.50" and fmt_money(-2.5) == "-$2.50" and fmt_money(-0.001) == "-<$0.01"
    assert fmt_money(0.00001, 4) == "<$0.0001" and fmt_money(float("inf")) == "-"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e7, allow_nan=False)), max_size=30))
def test_a_money_column_has_one_precision(values):
    out = money_column(values)
    decimals = {len(s.split(".")[1]) for s in out if "." in s}
    assert len(decimals) <= 1
    d = decimals.pop() if decimals else 2
    for v, s in zip(values, out):
        if v is None:
            assert s == "-"
        elif s.startswith("<"):
            assert 0 < v < 0.5 * 10 ** -d
        else:
            assert abs(float(s.replace("$", "").replace(",", "")) - v) <= 0.5 * 10 ** -d + 1e-6 * max(1.0, v)
