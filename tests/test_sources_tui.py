"""Every source's sessions, tasks, tool calls and routing decisions on the dashboard (issue 4's 'done when')."""

from __future__ import annotations

import json

from nexus_tui.app import NexusApp
from nexus_tui.collect.collector import Collector
from nexus_tui.collect.sources import LunaRouteSource, NexusEventSource
from nexus_tui.config import load_settings
from nexus_tui.core.filters import Filters
from nexus_tui.core.parse.otel import parse_logs
from nexus_tui.recorder import Recorder
from nexus_tui.screens.task_detail import TaskDetailScreen
from nexus_tui.store import open_store
from tests.conftest import REAL, require_shared
from tests.tui_helpers import SIZE, cells, settle


async def test_event_log_lunaroute_and_telemetry_sessions_show_on_the_screens(tmp_path):
    require_shared()
    logs = tmp_path / "nexus" / "logs"
    rec = Recorder(logs, session_id="nx-tui", persona="reviewer", nexus_mode="hybrid", project="router")
    with rec.task(model="qwen2.5-coder:7b", routing="local", tool="summarize", id="t-local",
                  routing_reason="token_count<500", classifier_version="rules-v2",
                  alternatives=[{"model": "claude-sonnet-4-5", "reason_rejected": "prompt under 500 tokens"}]) as t:
        t.update(tokens_in=400, tokens_out=90)
    rec.tool_call("search_docs", latency_ms=77, success=True, server="docs", id="c-1")
    lr = tmp_path / "lr" / "sessions" / "2025-10-01"
    lr.mkdir(parents=True)
    (lr / "s.jsonl").write_bytes((REAL / "lunaroute" / "constructed_from_events_rs.jsonl").read_bytes())
    settings = load_settings(home=str(tmp_path / "nexus"))
    store = open_store(settings.db_url)
    Collector(store, [NexusEventSource([logs], "claude-sonnet-4-5"), LunaRouteSource([tmp_path / "lr" / "sessions"])],
              workers=1).run_once()
    otel = json.loads((REAL / "otel" / "claude_code_2.1.241_logs_002.json").read_text())
    for rl in otel["resourceLogs"]:  # a session of its own, so the three sources stay apart on screen
        for sl in rl["scopeLogs"]:
            for r in sl["logRecords"]:
                for a in r["attributes"]:
                    if a["key"] == "session.id":
                        a["value"] = {"stringValue": "otel-tui"}
    store.writer.write(parse_logs(otel))
    app = NexusApp(settings, store, None, tz="UTC")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        rows = cells(app.screen.query_one("#sessions"))
        text = "\n".join(" ".join(r) for r in rows)
        assert len(rows) == 3 and "mcp" in text and "claude-code" in text and "router" in text
        app.set_filters(Filters(source="mcp-tool"))
        await settle(app, pilot)
        rows = cells(app.screen.query_one("#sessions"))
        assert len(rows) == 1 and "router" in " ".join(rows[0])
        await app.push_screen(TaskDetailScreen("nx:t-local"))
        await settle(app, pilot)
        routing = str(app.screen.query_one("#routing").render())
        assert "token_count<500" in routing and "claude-sonnet-4-5" in routing and "rules-v2" in routing
        await pilot.press("escape")
        app.set_filters(Filters())
        await pilot.press("6")
        await settle(app, pilot)
        tools = {r[0]: r for r in cells(app.screen.query_one("#tools"))}
        assert "search_docs" in tools and "docs" in tools["search_docs"] and "Bash" in tools
        await pilot.press("5")
        await settle(app, pilot)
        app.screen.query_one("#dims").active = "tab-routing"  # the Tiers screen queries the visible table only
        await settle(app, pilot, 3)
        routing_rows = {r[0] for r in cells(app.screen.query_one("#dim-routing"))}
        app.screen.query_one("#dims").active = "tab-source"
        await settle(app, pilot, 3)
        sources = {r[0] for r in cells(app.screen.query_one("#dim-source"))}
        assert routing_rows == {"cloud", "local"} and sources == {"mcp-tool", "proxy-intercept", "otel"}
    store.close()
