"""Hostile values through the sources other than Claude Code transcripts (OTLP, the event log and what the proxy,
mcp-wrap and the status-line command write to it, LunaRoute): a bad value costs only its record, with a reason; text
from data is stored without secrets and shown as text."""

from __future__ import annotations

import pytest

from nexus_tui.core.parse import otel

T0_NANO = "1772366400000000000"  # 2026-03-01T12:00:00Z


def _api_request(tokens_value) -> dict:
    attrs = [{"key": "event.name", "value": {"stringValue": "api_request"}},
             {"key": "session.id", "value": {"stringValue": "s-otel"}},
             {"key": "model", "value": {"stringValue": "claude-opus-4-6"}},
             {"key": "output_tokens", "value": {"intValue": 7}}]
    if tokens_value is not ...:
        attrs.append({"key": "input_tokens", "value": tokens_value})
    return {"timeUnixNano": T0_NANO, "attributes": attrs}


@pytest.mark.parametrize("bad", [{"intValue": "x"}, {"intValue": "12abc"}, {"stringValue": 5}, {"intValue": True},
                                 {"intValue": [1]}, {"doubleValue": "NaN"}, {"doubleValue": "Infinity"}, [1], "10",
                                 10, {"stringValue": None}])
def test_an_otlp_count_that_is_not_a_valid_value_rejects_its_record_not_counted_as_zero(bad):
    """A token count whose value is not an OTLP AnyValue of a number (a non-numeric intValue string, a number where
    the AnyValue object goes, a string typed as stringValue's neighbour) was read as absent, so the request was
    stored with 0 input tokens. It is rejected with its reason; the good record beside it is kept."""
    good = _api_request({"intValue": "12"})
    good["attributes"][1]["value"]["stringValue"] = "s-good"
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": [_api_request(bad), good]}]}]})
    assert [(t.session_id, t.tokens_in, t.tokens_out) for t in b.tasks] == [("s-good", 12, 7)]
    assert b.skipped == {"invalid api_request event: input_tokens is negative or not a count": 1}


@pytest.mark.parametrize("absent", [..., None, {}])
def test_an_absent_or_empty_otlp_count_is_zero(absent):
    b = otel.parse_logs({"resourceLogs": [{"scopeLogs": [{"logRecords": [_api_request(absent)]}]}]})
    assert [(t.tokens_in, t.tokens_out) for t in b.tasks] == [(0, 7)] and b.skipped == {}
