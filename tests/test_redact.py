"""Secrets are never written: the rule table shape by shape, text that must stay, and end to end (a transcript's
failing tool, an API error turn, a system error, mcp-wrap's event log and an OTLP api_error) with the bytes of the
database file and of the log files searched for every planted secret."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from nexus_tui.core.redact import redact, redact_event
from tests.helpers import collector_for, store_at

# each: (planted secret, the text around it); the secret must be gone, the words around it kept
AK = "sk-ant-api03-" + "Zq9" * 30 + "-AbCdEfGh_AA"
SECRETS = {
    "anthropic": AK,
    "anthropic-admin": "sk-ant-admin01-" + "x7Y" * 25,
    "openai-proj": "sk-proj-" + "Ab1_" * 20,
    "openai-legacy": "sk-" + "a1B2c3D4e5" * 2 + "T3BlbkFJ" + "f6G7h8I9j0" * 2,
    "openai-svcacct": "sk-svcacct-" + "Q1w2E3r4" * 6,
    "aws-akia": "AKIA" + "IOSFODNN7EXAMPL1",
    "aws-asia": "ASIA" + "Y34FZKBOKMUTVV7A",
    "github-ghp": "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github-gho": "gho_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github-ghs": "ghs_" + "16C7e42F292c6912E7710c838347Ae178B4a",
    "github-pat": "github_pat_11ABCDEFG0" + "abcdEFGH1234_" * 6,
    "gitlab": "glpat-" + "Xy9_abcdEFGH-1234567",
    "slack-bot": "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "slack-user": "xoxp-" + "123456789012-1234567890123-1234567890123-0123456789abcdef0123456789abcdef",
    "slack-webhook": "https://hooks.slack.com/services/" + "T0AAAAAAA/B0BBBBBBB/CCCCCCCCCCCCCCCCCCCCCCCC",
    "google": "AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
    "google-oauth": "ya29." + "a0AfH6SMBx-abcdefghijklmnopqrstuvwxyz0123",
    "stripe-live": "sk_live_" + "51H8abcdEFGH1234ijklMNOP",
    "stripe-restricted": "rk_live_" + "51H8abcdEFGH1234ijklMNOP",
    "jwt": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ."
           "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "huggingface": "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "npm": "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "sendgrid": "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "discord-webhook": "https://discord.com/api/webhooks/" + "123456789012345678/AbCdEf-GhIjKl_MnOpQr",
}
CONTEXTS = [
    "Error: request failed with key {s} (status 401)",
    'curl: (22) The requested URL returned error: 401\n> GET /v1 HTTP/1.1\n> x-api-key: {s}\n',
    '{{"error": "invalid credentials", "token": "{s}"}}',
    "export API_KEY={s}\nexit 1",
    "{s}",
    "x-{s}.",
]
# a key of a short prefix (hf_, npm_) is a name's part after an underscore ("load_hf_checkpoint"): not a boundary
SHORT_PREFIX = {"huggingface", "npm"}


@pytest.mark.parametrize("name", sorted(SECRETS))
@pytest.mark.parametrize("ctx", CONTEXTS)
def test_every_provider_key_shape_is_redacted_in_every_context(name, ctx):
    secret = SECRETS[name]
    out = redact(ctx.format(s=secret))
    assert secret not in out and "[REDACTED:" in out
    assert secret[4:20] not in out  # not a long piece of it either
    if ctx.startswith("Error"):
        assert out.startswith("Error: request failed with key ") and out.endswith(" (status 401)")


@pytest.mark.parametrize("raw, gone, kept", [
    ('curl -H "Authorization: Bearer abcDEF123456ghiJKL789" https://api.x.io', "abcDEF123456ghiJKL789",
     ['curl -H "Authorization: Bearer ', "https://api.x.io"]),
    ("authorization: token 0123456789abcdef0123", "0123456789abcdef0123", ["authorization: token "]),
    ("Proxy-Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy", ["Proxy-Authorization: Basic "]),
    ("got 401 for Bearer 9f8e7d6c5b4a", "9f8e7d6c5b4a", ["got 401 for Bearer "]),
    ("Basic YWRtaW46czNjcjN0IQ== was refused", "YWRtaW46czNjcjN0IQ==", [" was refused"]),
    ("psql: connection to postgres://admin:Sup3r-S3cret@db.local:5432/app failed", "Sup3r-S3cret",
     ["postgres://admin:", "@db.local:5432/app failed"]),
    ("git clone https://user:ghtoken123@github.com/o/r.git", "ghtoken123", ["https://user:", "@github.com/o/r.git"]),
    ("redis://:hunter2hunter2@cache:6379", "hunter2hunter2", ["@cache:6379"]),
    ("password=hunter2 user=bob", "hunter2", ["password=", "user=bob"]),
    ("DB_PASSWORD: 'correct horse battery'", "correct horse battery", ["DB_PASSWORD: "]),
    ('{"passwd": "tr0ub4dor&3", "user": "x"}', "tr0ub4dor&3", ['"user": "x"']),
    ("passwd:letmein123", "letmein123", ["passwd:"]),
    ("secret=abc123def456", "abc123def456", ["secret="]),
    ("client_secret => 'Zz9-yy8-xx7'", "Zz9-yy8-xx7", ["client_secret"]),
    ("PGPASSWORD=pg-pass-42 psql -h h", "pg-pass-42", ["psql -h h"]),
    ("GITHUB_TOKEN=some-opaque-value-1", "some-opaque-value-1", ["GITHUB_TOKEN="]),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG", []),
    ("mysql --password s3cretpw --user root", "s3cretpw", ["--user root"]),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Ht\nq2wZ9\n-----END RSA PRIVATE KEY-----\nthen more",
     "MIIEowIBAAKCAQEAx4Ht", ["then more"]),
    ("key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ", "b3BlbnNzaC1rZXkt",
     ["key:\n"]),  # cut short by the 500-character limit: redacted to the end
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----", "MIIEvQIBADAN", []),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----", "lQOYBF0", []),
])
def test_credentials_in_headers_urls_pairs_and_key_blocks(raw, gone, kept):
    out = redact(raw)
    assert gone not in out and "[REDACTED:" in out
    for k in kept:
        assert k in out, out


@pytest.mark.parametrize("plain", [
    "Error: File does not exist.", "Bearer token expired", "Basic authentication is not supported",
    "max_tokens: 4096 is above the limit; input_tokens=12", "See https://docs.anthropic.com/en/api/errors",
    "InputValidationError: [{'path': ['file_path']}]", "tokens_in=5 tokens_out=7 cache_read_tokens=100",
    "http://localhost:8080/api failed", "The password field is required", "routing token_count<500",
    "commit ghp in message", "sk-1234", "eyJ not a jwt", "ssh git@github.com:o/r.git", "",
])
def test_text_without_secrets_is_kept_as_it_is(plain):
    assert redact(plain) == plain


def test_non_strings_pass_and_events_are_redacted_deeply():
    assert redact(None) is None and redact(5) == 5
    ev = {"type": "error", "message": f"boom {AK}", "n": 3, "ctx": {"h": [f"Bearer {AK}", 1]}}
    out = redact_event(ev)
    assert AK not in json.dumps(out) and out["n"] == 3 and out["type"] == "error"


@settings(max_examples=150, deadline=None)
@given(pre=st.text(max_size=60), post=st.text(max_size=60), name=st.sampled_from(sorted(SECRETS)),
       sep=st.sampled_from([" ", "\n", "\t", "=", ": ", "(", "'", '"']))
def test_a_planted_key_is_gone_whatever_surrounds_it(pre, post, name, sep):
    secret = SECRETS[name]
    out = redact(pre + sep + secret + sep + post)
    assert secret not in out
    assert redact(out) == out  # idempotent: redacting twice changes nothing


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_redaction_never_raises_and_never_grows_text_without_a_mark(s):
    out = redact(s)
    assert isinstance(out, str)
    if "[REDACTED:" not in out:
        assert out == s


@settings(max_examples=150, deadline=None)
@given(pre=st.text(max_size=300), name=st.sampled_from(sorted(SECRETS)))
def test_short_texts_are_redacted_once_per_process_with_the_same_result(pre, name):
    """redact keeps the redaction of a short text (a model, a tool, a path repeat thousands of times in a cold
    ingest): the kept answer is the one computed anew, for a text with a key or without, and the kept texts are
    bounded."""
    from nexus_tui.core import redact as mod

    for text in (pre, pre + " " + SECRETS[name]):
        first = redact(text)
        assert first == mod._redact(text)
        assert redact(text) == first and SECRETS[name] not in redact(pre + " " + SECRETS[name])
        if 8 <= len(text) <= mod._TEXT_CACHED:
            assert mod._TEXTS[text] == first
    for i in range(mod._TEXTS_KEPT + 10):
        redact(f"model-{i:08d}")
    assert len(mod._TEXTS) <= mod._TEXTS_KEPT


# ------------------------------------------------------------------ end to end

PLANTED = [AK, SECRETS["github-pat"], SECRETS["aws-akia"], SECRETS["slack-bot"], SECRETS["jwt"], "hunter2-pw-77",
           "Sup3r-S3cret-db", SECRETS["stripe-live"], "MIIEowIBAAKCAQEAx4Ht"]
LEAKY = (f"curl -H 'Authorization: Bearer {AK}' failed; GH {SECRETS['github-pat']} AWS {SECRETS['aws-akia']}"
         f" slack {SECRETS['slack-bot']} jwt {SECRETS['jwt']} password=hunter2-pw-77 "
         f"postgres://app:Sup3r-S3cret-db@db:5432/x {SECRETS['stripe-live']}\n"
         "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4Ht\n-----END RSA PRIVATE KEY-----")


def _no_secret_in(paths: list[Path]) -> None:
    for p in paths:
        data = p.read_bytes()
        for s in PLANTED:
            assert s.encode() not in data, f"{s[:12]}... found in {p.name}"


def test_a_transcript_with_secrets_in_a_failing_tool_an_api_error_and_a_system_error_stores_none(tmp_path):
    sid = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    base = {"sessionId": sid, "version": "2.1.39", "cwd": "/home/u/p", "gitBranch": "main", "isSidechain": False,
            "userType": "external"}
    usage = {"input_tokens": 3, "output_tokens": 5, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    lines = [
        base | {"type": "user", "uuid": "q", "timestamp": "2026-02-01T10:00:00.000Z",
                "message": {"role": "user", "content": "deploy"}},
        base | {"type": "assistant", "uuid": "a", "parentUuid": "q", "timestamp": "2026-02-01T10:00:01.000Z",
                "requestId": "req_1", "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4-5",
                                                  "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                                               "input": {"command": "deploy.sh"}}],
                                                  "usage": usage}},
        base | {"type": "user", "uuid": "r", "parentUuid": "a", "timestamp": "2026-02-01T10:00:02.000Z",
                "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                         "is_error": True, "content": LEAKY[:480]}]}},
        base | {"type": "assistant", "uuid": "e", "parentUuid": "r", "timestamp": "2026-02-01T10:00:03.000Z",
                "isApiErrorMessage": True, "message": {"id": "msg_e", "role": "assistant", "model": "<synthetic>",
                                                       "content": [{"type": "text", "text": "API Error: " + LEAKY}],
                                                       "usage": usage}},
        base | {"type": "system", "uuid": "s", "level": "error", "timestamp": "2026-02-01T10:00:04.000Z",
                "content": "Hook failed: " + LEAKY},
    ]
    proj = tmp_path / "projects" / "-home-u-p"
    proj.mkdir(parents=True)
    (proj / f"{sid}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    store = store_at(tmp_path / "db.sqlite")
    collector_for(store, tmp_path / "projects").run_once()
    with store.engine.connect() as conn:
        tool_err = conn.execute(text("SELECT error_message FROM tool_calls WHERE id='toolu_1'")).scalar_one()
        errs = [r[0] for r in conn.execute(text("SELECT message FROM errors ORDER BY ts_ms"))]
    store.close()
    assert "[REDACTED:" in tool_err and "failed; GH" in tool_err  # the error is kept, its secrets are not
    assert len(errs) >= 3 and all("[REDACTED:" in m for m in errs)
    _no_secret_in([p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite")])


async def test_mcp_wrap_event_log_and_store_hold_no_secret(tmp_path):
    from tests.test_mcp_wrap import _client
    from tests.test_store import _cli

    _, results = await _client(tmp_path, [("refuse", {"reason": LEAKY})])
    assert results[0][1] is True and AK in results[0][2][0]  # the client itself still gets the real answer
    logs = list((tmp_path / "nexus" / "logs").glob("*.jsonl"))
    assert logs and any(b"[REDACTED:" in p.read_bytes() for p in logs)
    (tmp_path / "claude" / "projects").mkdir(parents=True)
    assert _cli(tmp_path, "ingest").returncode == 0
    _no_secret_in(logs + [p for p in (tmp_path / "nexus").iterdir() if p.name.startswith("insights.db")])
    from nexus_tui.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'nexus' / 'insights.db'}")
    with store.engine.connect() as conn:  # the error is kept (redacted), the call counted as failed
        msg = conn.execute(text("SELECT error_message FROM tool_calls WHERE tool_name = 'refuse'")).scalar_one()
    store.close()
    assert msg.startswith("refused: curl -H 'Authorization: Bearer [REDACTED:")


def test_recorder_error_event_is_redacted(tmp_path):
    from nexus_tui.recorder import Recorder

    rec = Recorder(tmp_path, session_id="s1")
    rec.error("tool", "crash", f"token={AK} and Bearer {SECRETS['jwt']}", context={"auth": f"Basic {AK}"})
    with pytest.raises(RuntimeError), rec.task(model="m"):
        raise RuntimeError(f"upstream said 401 for {SECRETS['github-pat']}")
    data = b"".join(p.read_bytes() for p in tmp_path.glob("*.jsonl"))
    assert AK.encode() not in data and SECRETS["jwt"].encode() not in data
    assert SECRETS["github-pat"].encode() not in data and b"upstream said 401" in data


def test_otlp_api_error_and_tool_result_text_are_redacted(tmp_path):
    from nexus_tui.collect.otlp import ReceiverThread

    store = store_at(tmp_path / "db.sqlite")
    rt = ReceiverThread(store.writer, "127.0.0.1", 0)
    rt.start()
    assert rt.ready.wait(10) and rt.error is None

    def rec(name, **a):
        attrs = [{"key": "event.name", "value": {"stringValue": name}},
                 {"key": "session.id", "value": {"stringValue": "s-otel"}},
                 {"key": "event.timestamp", "value": {"stringValue": "2026-02-01T10:00:00.000Z"}}]
        attrs += [{"key": k, "value": {"stringValue": v}} for k, v in a.items()]
        return {"timeUnixNano": "1769940000000000000", "attributes": attrs}

    payload = {"resourceLogs": [{"scopeLogs": [{"logRecords": [
        rec("api_error", error=LEAKY[:400], status_code="401"),
        rec("tool_result", tool_name="Bash", success="false", error=LEAKY[:450], tool_use_id="toolu_x")]}]}]}
    try:
        r = httpx.post(f"http://127.0.0.1:{rt.port}/v1/logs", json=payload)
        assert r.status_code == 200, r.text
    finally:
        rt.stop()
        rt.join(5)
    with store.engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM errors")).scalar_one()
    store.close()
    assert n == 2
    _no_secret_in([p for p in tmp_path.iterdir() if p.name.startswith("db.sqlite")])


def test_skip_reasons_titles_and_error_labels_keep_no_secret_fragment(tmp_path):
    """Data quoted in a skip reason was cut (40 or 80 characters) before the writer redacted it, so a key cut short
    no longer had its shape: ``unknown line type (fatal: auth failed ghp_16C7e42F292c6912)`` was printed by ingest
    and kept in the ingest row. A schema error quotes the bad value (``{'headers': 'Authorization: Bearer …'} is not
    of type 'string'``). Session titles and an error's kind and component were not redacted at all."""
    from tests.test_store import _cli

    gh, akia, bearer = SECRETS["github-ghp"], SECRETS["aws-akia"], "Zq9xLmN0pQrStUvWxYz12345"
    fragments = [gh[:14], akia[:12], bearer[:10]]
    proj = tmp_path / "claude" / "projects" / "-w-p"
    proj.mkdir(parents=True)
    env = {"sessionId": "s-sec", "version": "2.1.0", "cwd": "/w/p", "timestamp": "2026-02-01T10:00:00.000Z"}
    lines = [{"type": f"fatal: auth failed {gh}", "sessionId": "s-sec"},
             env | {"type": "custom-title", "customTitle": f"deploy with {gh}"},
             env | {"type": "ai-title", "aiTitle": f"rotate {akia}"},
             env | {"type": "assistant", "uuid": "u1", "requestId": "req_after",
                    "message": {"id": "m1", "model": "claude-opus-4-6", "usage": {"input_tokens": 1,
                                                                                  "output_tokens": 2}}}]
    (proj / "s-sec.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    logs = tmp_path / "nexus" / "logs"
    logs.mkdir(parents=True)
    ts = "2026-02-01T10:00:01.000Z"
    events = [{"v": 1, "type": "task", "ts": ts, "id": "t1", "session_id": "s-ev", "routing": "cloud",
               "model": {"headers": f"Authorization: Bearer {bearer}"}},
              {"v": 1, "type": "error", "ts": ts, "session_id": "s-ev", "component": f"aws {akia}",
               "kind": f"Bearer {bearer}", "message": "denied"}]
    (logs / "2026-02-01.jsonl").write_text("".join(json.dumps(x) + "\n" for x in events))
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0, r.stderr
    assert "unknown line type (fatal: auth failed [REDACTED" in r.stdout and "invalid event (model: " in r.stdout
    for f in fragments:
        assert f not in r.stdout + r.stderr, (f, r.stdout)
    db = [p for p in (tmp_path / "nexus").iterdir() if p.name.startswith("insights.db")]
    for p in db:
        for f in fragments:
            assert f.encode() not in p.read_bytes(), (f, p.name)
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        kinds = conn.execute(text("SELECT component, kind FROM errors WHERE session_id = 's-ev'")).all()
        titles = conn.execute(text("SELECT title FROM title_lines ORDER BY title")).scalars().all()
        after = conn.execute(text("SELECT tokens_out FROM tasks WHERE id = 'req_after'")).scalar_one()
    store.close()
    assert kinds == [("aws [REDACTED:aws-access-key]", "Bearer [REDACTED:bearer]")]
    assert titles == ["deploy with [REDACTED:github-token]", "rotate [REDACTED:aws-access-key]"]
    assert after == 2  # the good line after them is stored


def test_the_ingest_row_of_a_folder_named_with_a_key_reports_no_key(tmp_path):
    """Claude Code names a project's folder by its cwd, so a key in a path is in the transcript's path. The ingest
    row of the audit trail said where lines were skipped by an id built of that path: the errors report (JSON, CSV)
    printed the key. The id is now a redacted key (``redact_key``: stable, so a pass read again writes the same)."""
    from tests.test_store import _cli

    key = SECRETS["github-ghp"]
    proj = tmp_path / "claude" / "projects" / f"-home-u-{key}"
    proj.mkdir(parents=True)
    (proj / "s.jsonl").write_text('{"type": "assistant", "trunc\n')
    r = _cli(tmp_path, "ingest")
    assert r.returncode == 0 and "malformed JSON: 1" in r.stdout, r.stdout + r.stderr
    for fmt in ("json", "csv", "text"):
        out = _cli(tmp_path, "--headless", "errors", "--format", fmt, "--no-collect")
        assert out.returncode == 0 and "skipped" in out.stdout, out.stderr
        assert key not in out.stdout and key[:14] not in out.stdout, (fmt, out.stdout)
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM errors WHERE component = 'ingest'")).scalars().all()
    store.close()
    assert len(ids) == 1 and ids[0].startswith("ingest:") and "[REDACTED:github-token]" in ids[0], ids


def test_an_audit_target_read_back_from_the_transcript_is_redacted(tmp_path):
    """Calls stored before schema 9 have no target; the audit trail reads it from the transcript (fill_targets).
    The target stored at write is redacted: the one read back must be too (a file written under a key's name)."""
    from tests.test_store import _cli

    key = SECRETS["github-ghp"]
    proj = tmp_path / "claude" / "projects" / "-w-p"
    proj.mkdir(parents=True)
    base = {"sessionId": "s-aud", "version": "2.1.0", "cwd": "/w/p"}
    lines = [base | {"type": "assistant", "uuid": "a1", "timestamp": "2026-02-01T10:00:00.000Z", "requestId": "r1",
                     "message": {"id": "m1", "model": "claude-opus-4-6", "usage": {"input_tokens": 1, "output_tokens": 2},
                                 "content": [{"type": "tool_use", "id": "tu1", "name": "Write",
                                              "input": {"file_path": f"/w/p/{key}.env", "content": "x"}}]}},
             base | {"type": "user", "uuid": "u1", "timestamp": "2026-02-01T10:00:01.000Z",
                     "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu1",
                                                              "content": "ok"}]}}]
    (proj / "s-aud.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert _cli(tmp_path, "ingest").returncode == 0
    store = store_at(tmp_path / "nexus" / "insights.db")
    with store.engine.begin() as conn:
        assert conn.execute(text("SELECT target FROM tool_calls")).scalar_one() == "/w/p/[REDACTED:github-token].env"
        conn.execute(text("UPDATE tool_calls SET target = NULL"))  # as stored before schema version 9
    store.close()
    out = _cli(tmp_path, "--headless", "audit", "--session", "s-aud", "--format", "json", "--no-collect")
    assert out.returncode == 0, out.stderr
    assert key not in out.stdout and "/w/p/[REDACTED:github-token].env" in out.stdout, out.stdout


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))


def test_migrating_to_version_5_redacts_what_was_stored_before(tmp_path):
    from nexus_tui.store.schema import SCHEMA_VERSION

    db = tmp_path / "v4.sqlite"
    store = store_at(db)
    with store.engine.begin() as conn:  # rows as an older version stored them, and the database back at version 4
        conn.execute(text("INSERT INTO errors (id, time, ts_ms, component, kind, message, context) VALUES "
                          "('e1', '2026-01-01T00:00:00.000Z', 1, 'tool', 'error', :m, :c)"),
                     {"m": LEAKY, "c": json.dumps({"auth": f"Bearer {AK}"})})
        conn.execute(text("INSERT INTO tool_calls (id, session_id, tool_name, error_message) VALUES "
                          "('t1', 's', 'Bash', :m), ('t2', 's', 'Bash', 'plain failure')"), {"m": LEAKY[:500]})
        conn.execute(text("DELETE FROM schema_version WHERE version = :v"), {"v": SCHEMA_VERSION})
    store.close()
    again = store_at(db)
    with again.engine.connect() as conn:
        msgs = [r[0] for r in conn.execute(text("SELECT error_message FROM tool_calls ORDER BY id"))]
        err = conn.execute(text("SELECT message, context FROM errors")).one()
    again.close()
    assert "[REDACTED:" in msgs[0] and msgs[1] == "plain failure"
    assert all(s not in msgs[0] + err[0] + err[1] for s in PLANTED)


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_a_key_cut_by_the_500_character_trim_leaves_no_fragment(name):
    secret = SECRETS[name]
    if secret.startswith("http"):  # webhooks: their rule needs the path (cut to the host, nothing secret is left)
        return
    for keep in (len(secret) // 2, len(secret) - 3):  # the provider prefix and part of the secret itself
        cut = ("x" * 480 + " failed: " + secret)[: 489 + keep] + "…"
        out = redact(cut)
        assert secret[:keep] not in out and out.endswith("]…"), (keep, out[-40:])


def test_a_last_word_like_a_key_prefix_is_kept_when_the_text_was_not_cut():
    assert redact("error while loading glib-2.0") == "error while loading glib-2.0"
    assert redact("x" * 495 + " glib-2.0").endswith("[REDACTED:cut-key]")  # at the limit: taken as cut


def test_a_key_built_from_data_text_holds_no_secret_and_stays_one_key_per_value():
    """core/redact.py redact_key, which the writer applies to a quota snapshot's id (it holds the window's name):
    an id without a secret is as it was; one with a secret is redacted, with a hash of the id as read after it, so
    the same id always gives the same key (reading a source again adds no row) and two ids that differ only by
    their secrets, or by what a keyword pair's value took (``sl:token:<time>...``), stay two."""
    from nexus_tui.core.parse.guard import MAX_KEY_CHARS
    from nexus_tui.core.redact import redact_key

    gh = "ghp_" + "16C7e42F292c6912E7710c838347Ae178B4a"
    assert redact_key("req_1:five_hour") == "req_1:five_hour"
    assert redact_key("sl:five_hour:1772366404000:s1:40:None") == "sl:five_hour:1772366404000:s1:40:None"
    a, b = redact_key(f"req_1:five {gh}"), redact_key(f"req_1:five {gh[:-1]}x")
    assert a.startswith("req_1:five [REDACTED:github-token]#") and len(a.rsplit("#", 1)[1]) == 16
    assert a == redact_key(f"req_1:five {gh}") and a != b and gh[:12] not in a + b
    t1, t2 = redact_key("sl:token:1772366404000:s1:41:None"), redact_key("sl:token:1772366405000:s1:41:None")
    assert t1.startswith("sl:token:[REDACTED:secret]#") and t1 != t2
    assert redact_key(redact_key(f"req_1:five {gh}")) == a  # stable when applied again (the migration, twice)
    long = redact_key("x" * 2000 + gh)  # cut as every key is, before it is redacted: the secret is past the cut
    assert long == "x" * MAX_KEY_CHARS
    long = redact_key("x" * 990 + " " + gh)
    assert len(long) <= MAX_KEY_CHARS and gh[:12] not in long and "#" in long


@pytest.mark.parametrize("name", sorted(set(SECRETS) - SHORT_PREFIX))
def test_a_key_glued_between_underscores_is_redacted(name):
    """A rate-limit window or an env name glues a key after an underscore ("seven_day_<key>", "TOKEN_<key>"), or
    between two ("seven_day_<key>_opus"); a key of a distinctive shape starts where no letter or digit is before it
    and ends where none follows."""
    secret = SECRETS[name]
    for text in (f"seven_day_{secret}", f"TOKEN_{secret}") + ((f"seven_day_{secret}_opus",)
                                                              if secret[-1].isalnum() else ()):
        out = redact(text)
        assert secret not in out and secret[4:20] not in out, out


GLUED_TO_A_WORD = {"github-ghp", "github-gho", "github-ghs", "github-pat", "aws-akia", "aws-asia", "google",
                   "google-oauth", "jwt", "slack-bot", "slack-user"}


@pytest.mark.parametrize("name", sorted(set(SECRETS) - SHORT_PREFIX))
def test_a_key_glued_to_an_escape_a_colour_sequence_or_a_word_is_redacted(name):
    """Tool output glues a key to a letter or digit that is not part of it: an escape written out in JSON or a shell
    (``\\n``), a URL's ``%3D``, ``grep --color``'s colour and erase sequences around a match. The keys no word ends
    in are taken glued to any word ("tokenghp_…", "keyAKIA…")."""
    secret = SECRETS[name]
    texts = [f"line one\\n{secret}\\nline two", f"x\\t{secret}", f"token%3D{secret}&x=1",
             f"GITHUB_TOKEN=\x1b[01;31m\x1b[K{secret}\x1b[m\x1b[K", f"\x1b[1m{secret}\x1b[0m done"]
    if name in GLUED_TO_A_WORD:
        texts += [f"token{secret} expired", f"mykey{secret}"]
    for text in texts:
        out = redact(text)
        assert secret not in out and secret[4:20] not in out and "[REDACTED:" in out, (text, out)


@pytest.mark.parametrize("text", [
    "task_test_0123456789abcdef", "run_task_live_0123456789abcdef", "MSG.abcdefghijklmnopqrstu.abcdefghijklmnopqrst",
    "mytask-proj-abcdefghijklmnop1234", "desk-svcacct-ABCDEFGH12345678", "XAKIAIOSFODNN7EXAMPLE",
    "PAKIAIOSFODNN7EXAMPLE1", "eaglft-abcdefghijklmnopqrstu",
])
def test_a_word_ending_like_a_key_prefix_is_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize("text", [
    "AttributeError: module 'transformers' has no attribute 'load_hf_chec…",
    "run_npm_installworkspacedependenciesandbuildall",
    "load_hf_checkpoint_abcdefghijklmnopqrstuvwxyzabcdefgh",
    "call_xai-sdk…", "fetch_hf_dataset…", "build_npm_…", "test_glob-…",
])
def test_snake_case_names_are_not_taken_for_keys(text):
    assert redact(text) == text


def test_redaction_time_is_linear_in_the_text_however_many_key_prefixes_it_holds():
    """A prefix of a key cut at the text's end (the cut-key rule) could start at any of thousands of places, each
    scanning to the end of its run: only the text's end is searched. Counted in regex steps, not timed: the work on
    a text 8x as long is at most ~8x (measured by the characters the rule is given)."""
    import nexus_tui.core.redact as R

    seen = []
    real = R._patterns

    def spy():
        rules, pairs = real()
        out = []
        for hints, rx, repl, tail in rules:
            if tail is not None:
                class Rx:
                    def __init__(self, rx):
                        self.rx = rx

                    def sub(self, repl, text):
                        seen.append(len(text))
                        return self.rx.sub(repl, text)
                rx = Rx(rx)
            out.append((hints, rx, repl, tail))
        return out, pairs

    R._patterns = spy
    try:
        for n in (1_000, 8_000):
            redact("x_hf_ a sk-" * n)
    finally:
        R._patterns = real
    assert len(seen) == 2 and seen[0] == seen[1] <= 512, seen


def test_nested_names_that_differ_only_by_their_secrets_stay_apart():
    a, b = "seven_day_ghp_" + "A" * 36, "seven_day_ghp_" + "B" * 36
    out = redact_event({"rate_limits": {a: {"used_percentage": 10}, b: {"used_percentage": 90},
                                        "five_hour": {"used_percentage": 1}}})["rate_limits"]
    assert len(out) == 3 and out["five_hour"] == {"used_percentage": 1}
    assert sorted(v["used_percentage"] for v in out.values()) == [1, 10, 90]
    assert not any("AAAA" in k or "BBBB" in k for k in out), out
    assert redact_event({"rate_limits": {a: 1}}) == redact_event({"rate_limits": {a: 1}})  # stable: same key again
