"""widgets/fields.py: header lines of "label value" pairs wrap between pairs, never inside one, at any width; values
are shown as text."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st
from rich.console import Console

from nexus_tui.widgets.fields import SEP, Fields, pair


def _render(f: Fields, width: int) -> list[str]:
    c = Console(width=width, record=True, color_system=None, legacy_windows=False)
    with c.capture() as cap:
        c.print(f)
    return cap.get().split("\n")[:-1]


def test_a_line_breaks_before_the_pair_that_would_cross_the_edge():
    f = Fields([[pair("Time", "2026-11-20 07:57:04"), pair("Model", "claude-sonnet-4-5-20250929"),
                 pair("Source", "transcript"), pair("Routing", "cloud")]])
    assert _render(f, 80) == ["Time 2026-11-20 07:57:04   Model claude-sonnet-4-5-20250929   Source transcript",
                              "Routing cloud"]
    assert _render(f, 60) == ["Time 2026-11-20 07:57:04   Model claude-sonnet-4-5-20250929",
                              "Source transcript   Routing cloud"]
    assert _render(f, 200) == [f.plain]


def test_values_are_text_not_markup_and_controls_are_escaped():
    f = Fields([[pair("Model", "[/red]x[b]"), pair("Tool", "a\x1b[31mb\nc")], [pair("Proxy")]])
    out = _render(f, 100)
    assert out == ["Model [/red]x[b]   Tool a\\x1b[31mb\\x0ac", "Proxy"]
    assert str(f) == "Model [/red]x[b]   Tool a\\x1b[31mb\\x0ac\nProxy"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.text("ABCabc", min_size=1, max_size=12),
                                   st.text("xyz 0123,.-", max_size=30)), min_size=1, max_size=8),
                min_size=1, max_size=4),
       st.integers(10, 120))
def test_no_label_is_parted_from_its_value_unless_the_pair_alone_is_too_wide(lines, width):
    f = Fields([[pair(label, value) for label, value in line] for line in lines])
    out = _render(f, width)
    assert all(len(x) <= width for x in out)
    # every pair that fits on a line starts a line or follows a separator, whole, on one line
    text = "\n".join(out)
    for line in lines:
        for label, value in line:
            whole = f"{label} {value}".rstrip()
            if len(f"{label} {value}") <= width:
                assert any(whole in x for x in out), (whole, out)
    # nothing is lost: the characters come out in order (a word wider than the line is folded, as text is)
    want = " ".join(SEP.join(f"{a} {b}" for a, b in line) for line in lines)
    assert "".join(text.split()) == "".join(want.split())


def test_a_pair_wider_than_the_line_wraps_its_value_under_itself():
    title = "日本語のタイトル 🎉🎉 with emoji and a long long long long title that goes on"
    f = Fields([[pair(f"{'Title':<11}", title)], [pair(f"{'Session ID':<11}", "s-cjk")]])
    out = _render(f, 40)
    assert out[0].startswith("Title       日本語") and out[-1] == "Session ID  s-cjk"
    assert all(x.startswith(" " * 12) and x[12] != " " for x in out[1:-1]) and len(out) > 3
    assert "".join(x.strip() for x in out[:-1]).replace(" ", "") == ("Title" + title).replace(" ", "")
    assert all(Console(width=40).measure(x).maximum <= 40 for x in out)
