"""Secret redaction for every free-text value that is stored, written to the event log or shown in a report.

Failed tool output, API error text and system errors are kept (up to 500 characters) for the audit trail, and such
text often holds the credentials of the command that failed: an ``Authorization: Bearer ...`` header echoed by curl,
a connection URL with ``user:password@``, an ``sk-ant-...`` key printed by a misconfigured client. ``redact()``
replaces each secret shape with ``[REDACTED:<rule>]`` and keeps the rest of the text.

The rule table follows gitleaks' default rules (github.com/gitleaks/gitleaks, ``config/gitleaks.toml``: the
prefixes and lengths of the provider keys) and the detect-secrets plugins (keyword pairs, basic-auth URLs, private
key blocks, JWTs). detect-secrets itself was considered and not used: its last release (1.5.0, 2024) has no rule for
Anthropic, OpenAI project, Google API or GitHub fine-grained keys, its detectors report findings per line rather
than give spans to replace, and it pulls in requests and PyYAML; a table of our own, tested shape by shape
(tests/test_redact.py), is smaller and faster.

Cost: each rule has literal hints; the text is lowered once and a rule's regex runs only when one of its hints is
in it (a C substring search), so text that cannot hold a secret costs a few ``in`` checks. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

MARK = "[REDACTED:{}]"

_Repl = str | Callable[[re.Match], str]


def _mark(name: str) -> str:
    return MARK.format(name)


def _basic(m: re.Match) -> str:
    """``Basic <base64>``: redacted when the base64 decodes to ``user:password`` (not the English word "Basic")."""
    tok = m.group(2)
    try:
        raw = base64.b64decode(tok + "=" * (-len(tok) % 4), validate=True)
    except (binascii.Error, ValueError):
        return m.group(0)
    if b":" in raw:
        return m.group(1) + _mark("basic-auth")
    return m.group(0)


def _bearer(m: re.Match) -> str:
    tok = m.group(2)
    # a credential, not prose ("Bearer token expired"): long, or with a digit or a token punctuation mark
    if len(tok) >= 16 or any(c.isdigit() for c in tok) or any(c in "._-~+/=" for c in tok):
        return m.group(1) + _mark("bearer")
    return m.group(0)


def _cut(m: re.Match) -> str:
    """Only in text that was trimmed (ends with "…" or is at the 500-character limit): elsewhere a last word such as
    "glib-2.0" is no cut key."""
    t = m.string.rstrip()
    return _mark("cut-key") if t.endswith("…") or len(t) >= 499 else m.group(0)


_KEYWORDS = (r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
             r"credentials?|auth[_-]?key|session[_-]?key|client[_-]?secret|signing[_-]?key)")


def _pair(m: re.Match) -> str:
    value = m.group("v")
    inner = value.strip("\"'`")
    if not inner or inner.startswith("[REDACTED") or inner.lower() in ("null", "none", "true", "false", "***"):
        return m.group(0)
    return m.group("k") + _mark("password" if "pass" in m.group("name").lower() or "pwd" in m.group("name").lower()
                                else "secret")


_PAIR_TAIL_PAT = (r"[\"'`]?[ \t]*(?:=>|:=|=|:)[ \t]*"
                  r"(?P<v>\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|`[^`\n]{1,200}`|[^\s\"',;&<>)}\]]{1,200})")
_IDENT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


def _pairs(text: str) -> str:
    """``name = value`` pairs whose name ends in a secret keyword (``password``, ``DB_PASSWORD``, ``api_key``,
    ``client_secret``, ``GITHUB_TOKEN``...; env lines, JSON, YAML, URLs' queries): the value replaced. Found from the
    keyword (a C scan) rather than by a pattern tried at every position."""
    out, pos = [], 0
    low = text.lower()
    kw, kw_i, pair_tail = _patterns()[1]
    # the keywords run over the lowered text (case-insensitive alternations are slow in re) when lowering keeps the
    # positions
    finder = kw.finditer(low) if len(low) == len(text) else kw_i.finditer(text)
    for m in finder:
        if m.start() < pos:
            continue
        t = pair_tail.match(text, m.end())
        if t is None:
            continue
        v = t.group("v")
        inner = v.strip("\"'`")
        if not inner or inner.startswith("[REDACTED") or inner.lower() in ("null", "none", "true", "false", "***"):
            continue
        start = m.start()
        while start > 0 and m.start() - start < 40 and text[start - 1] in _IDENT:
            start -= 1
        name = text[start:m.end()].lower()
        out.append(text[pos:t.start("v")])
        out.append(_mark("password" if "pass" in name or "pwd" in name else "secret"))
        pos = t.end("v")
    if not out:
        return text
    out.append(text[pos:])
    return "".join(out)


# (name, hints: lower-case literals one of which must be in the lowered text, pattern, replacement). A key of a
# distinctive shape (OpenAI, AWS, GitHub, GitLab, Slack, Google, Stripe, SendGrid, JWT) starts and ends where no
# letter or digit is beside it (_B, _E): an underscore is a boundary too (gitleaks' \b is not: "TOKEN_ghp_…" or a
# rate-limit window "seven_day_ghp_…_opus" kept the key whole). The short prefixes (hf_, npm_, gsk_, ...) and the cut
# key keep \b: "load_hf_checkpoint" or "run_npm_install…" is a name, not a key.
#
# Where tool output glues a key to a letter or digit that is not part of it, the key is taken all the same: after an
# escape written out (``\n``, ``\t``, ``\r`` of JSON or a shell), a URL's ``%XX``, or a terminal's colour or erase
# sequence (``ESC[1;31m``, ``ESC[K``: ``grep --color`` around a match); and the keys whose start no word ends with
# (GitHub's ``gh?_``/``github_pat_``, AWS after a lower-case letter, Google's ``AIza`` and OAuth tokens, Slack's
# ``xox?-``, JWTs) wherever they start ("tokenghp_…", "keyAKIA…"). Shapes a word can end in ("task_test_…",
# "MSG.…", "ask-proj-…") keep the boundary.
_ESCAPED = r"(?<=\\[ntr])|(?<=%[0-9A-Fa-f]{2})|(?<=[\[0-9;][A-Za-z])"
_B = r"(?:(?<![A-Za-z0-9])|" + _ESCAPED + ")"
_E = r"(?![A-Za-z0-9])"
_RULES: list[tuple[str, tuple[str, ...], str, _Repl]] = [
    # blocks first: a private key spans lines (and may be cut short by the 500-character limit: to the end then)
    ("private-key", ("private key",),
     r"-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END[ A-Z0-9_-]{0,40}PRIVATE KEY"
     r"(?: BLOCK)?-----|\Z)", None),
    ("anthropic-key", ("sk-ant-",), r"sk-ant-[A-Za-z0-9]{2,10}-[A-Za-z0-9_\-]{8,}", None),
    ("openai-key", ("sk-",),
     _B + r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{16,}|" + _B + r"sk-[A-Za-z0-9]{16,}T3BlbkFJ[A-Za-z0-9]{16,}|"
     + _B + r"sk-[A-Za-z0-9]{32,}", None),
    ("aws-access-key", ("akia", "asia", "abia", "acca", "a3t"),
     r"(?:(?<![A-Z0-9])|" + _ESCAPED + r")(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}" + _E, None),
    ("github-token", ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
     r"(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})", None),
    ("gitlab-token", ("gl",),
     _B + r"gl(?:pat|ptt|dt|rt|cbt|oas|soat|ft|imt|agent|wt|cf)-[A-Za-z0-9_\-]{20,}", None),
    ("slack-token", ("xox", "xapp-"),
     r"xox[abposre]-[A-Za-z0-9\-]{10,}|" + _B + r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+", None),
    ("slack-webhook", ("hooks.slack.com",),
     r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{10,}", None),
    ("discord-webhook", ("discord",),
     r"https?://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[A-Za-z0-9_\-]+", None),
    ("google-api-key", ("aiza",), r"AIza[0-9A-Za-z_\-]{35}", None),
    ("google-oauth", ("ya29.", "gocspx-"),
     r"ya29\.[0-9A-Za-z_\-]{20,}|GOCSPX-[0-9A-Za-z_\-]{20,}", None),
    ("stripe-key", ("sk_", "rk_", "whsec_"),
     _B + r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,}|" + _B + r"whsec_[0-9A-Za-z]{20,}", None),
    ("huggingface-token", ("hf_",), r"\bhf_[A-Za-z]{30,}", None),
    ("npm-token", ("npm_",), r"\bnpm_[A-Za-z0-9]{36}", None),
    ("pypi-token", ("pypi-",), r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{20,}", None),
    ("sendgrid-key", ("sg.",), _B + r"SG\.[A-Za-z0-9_\-]{16,32}\.[A-Za-z0-9_\-]{16,64}", None),
    ("groq-key", ("gsk_",), r"\bgsk_[A-Za-z0-9]{40,}", None),
    ("xai-key", ("xai-",), r"\bxai-[A-Za-z0-9]{40,}", None),
    ("shopify-token", ("shpat_", "shpss_", "shpca_", "shppa_"), r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", None),
    ("digitalocean-token", ("dop_v1_", "doo_v1_", "dor_v1_"), r"\bdo[opr]_v1_[a-f0-9]{64}", None),
    ("telegram-bot-token", ("bot", ":aa"), r"\b\d{8,10}:AA[0-9A-Za-z_\-]{32,33}\b", None),
    ("jwt", ("eyj",), r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*", None),
    # header credentials: the scheme is kept, the credential replaced
    ("authorization", ("authorization",),
     r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|digest|negotiate|apikey)?\s*)"
     r"(?!\[REDACTED|(?:bearer|basic|token|digest|negotiate|apikey)\s)[^\s\"',;]{4,}",
     lambda m: m.group(1) + _mark("authorization")),
    ("bearer", ("bearer",), r"(?i)(\bbearer\s+)(?!\[REDACTED)([A-Za-z0-9._~+/\-]{6,}=*)", _bearer),
    ("basic-auth", ("basic",), r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{6,}={0,2})", _basic),
    ("url-credentials", ("://",),
     r"(?i)\b([a-z][a-z0-9+.\-]{0,20}://[^\s:/@\"'<>]{0,128}:)(?!\[REDACTED)[^\s/@\"'<>]{1,256}(@)",
     lambda m: m.group(1) + _mark("password") + m.group(2)),
    # key = value pairs (env lines, JSON, YAML, CLI flags): the name is kept, the value replaced
    ("keyword-pair", ("pass", "pwd", "secret", "token", "key", "credential"), None, _pairs),
    # a key cut short by the 500-character trim at the end of the text: its prefix is enough
    ("cut-key", ("sk-", "gh", "gl", "xox", "xapp-", "akia", "asia", "aiza", "ya29.", "_live_", "_test_", "whsec_",
                 "eyj", "hf_", "npm_", "pypi-", "sg.", "gsk_", "xai-"),
     r"\b(?:sk-|gh[pousr]_|github_pat_|gl[a-z]{2,5}-|xox[a-z]-|xapp-|AKIA|ASIA|AIza|ya29\.|[sr]k_(?:live|test)_|"
     r"whsec_|eyJ|hf_|npm_|pypi-|SG\.|gsk_|xai-)(?!\[REDACTED)[A-Za-z0-9_\-./+=]{2,}(?=…?\s*\Z)", _cut),
    ("keyword-flag", ("--pass", "--token", "--secret", "--api-key", "--apikey"),
     r"(?i)(?P<k>(?P<name>--(?:password|passwd|pass|token|secret|api-key|apikey))\s+)"
     r"(?P<v>\"[^\"\n]{1,200}\"|'[^'\n]{1,200}'|[^\s\"',;&<>]{1,200})", _pair),
]

MAX_KEY_CHARS = 1000  # the longest key (an id) any record keeps (core.parse.guard's bound; cut alike everywhere)

# rules that only match at the text's end, searched in its last this many characters: a prefix can start anywhere
# and each start scans to the end of its run, so searching the whole of a long text costs its length squared
_TAIL = {"cut-key": 512}

_LOADED: list = []  # the compiled rules and the pairs' patterns, made on the first text with a hint


def _patterns() -> tuple[list[tuple[frozenset, re.Pattern | None, _Repl, int | None]], tuple[re.Pattern, ...]]:
    """Compiled once, when first needed: most passes (a few appended lines) have no text to redact, and compiling
    the 30-odd patterns is a tenth of such a pass."""
    if not _LOADED:
        rules = [(frozenset(hints), re.compile(pat) if pat is not None else None,
                  repl if repl is not None else _mark(name), _TAIL.get(name)) for name, hints, pat, repl in _RULES]
        pairs = (re.compile(_KEYWORDS), re.compile(r"(?i)" + _KEYWORDS), re.compile(_PAIR_TAIL_PAT))
        _LOADED[:] = [(rules, pairs)]  # one assignment: a thread that races here builds the same patterns
    return _LOADED[0]


RULE_NAMES = tuple(r[0] for r in _RULES)
_HINTS = tuple(sorted({h for r in _RULES for h in r[1]}))


_TEXTS: dict[str, str] = {}  # short text -> redacted (bounded: cleared when full); models, tools, paths repeat a lot
_TEXTS_KEPT = 8192
_TEXT_CACHED = 512  # characters: at most ~4M characters kept


def redact(text):
    """``text`` with every secret shape replaced by ``[REDACTED:<rule>]``; anything not a str is returned as is.
    Pure: a short text is computed once per process (a cold ingest redacts the same few hundred models, tools,
    projects and paths thousands of times)."""
    if type(text) is str and 8 <= len(text) <= _TEXT_CACHED:
        got = _TEXTS.get(text)
        return got if got is not None else _keep(_TEXTS, _TEXTS_KEPT, text, _redact)
    return _redact(text)


def _keep(kept: dict, limit: int, v: str, compute) -> str:
    """``compute(v)``, kept in ``kept`` (cleared when it holds ``limit``: bounded memory)."""
    if len(kept) >= limit:
        kept.clear()
    got = kept[v] = compute(v)
    return got


def _redact(text):
    if not isinstance(text, str) or len(text) < 8:
        return text
    low = text.lower()
    found = {h for h in _HINTS if h in low}  # C substring searches; text without any hint is returned here
    if not found:
        return text
    for hints, rx, repl, tail in _patterns()[0]:
        if hints.isdisjoint(found):
            continue
        if tail is not None and len(text) > tail:  # a rule for the text's end: only its end is searched
            text = text[:-tail] + rx.sub(repl, text[-tail:])
        else:
            text = repl(text) if rx is None else rx.sub(repl, text)
    return text


# Values of a parsed record that are keys or fixed vocabularies, never free text: not redacted as text (a key
# redacted could make two records one). Every other string field of every record is redacted, so a field a source
# fills from data is covered without being listed (a persona or user agent from a proxy's headers, an account id, a
# project).
KEY_FIELDS = frozenset((
    "id", "session_id", "task_id", "request_id", "message_id", "conversation_id", "branch_id", "parent_request_id",
    "parent_task_request_id", "message_hash", "parent_message_hash", "system_hash", "source", "routing",
    "priced_as", "source_path", "updated_ms", "observed_ms"))
# the keys and paths a source takes from its data (the others are made by the parsers: hashes, labels of a fixed
# set): each stored through ``key_of`` (``redact_key``, each distinct value once), so no secret reaches the database
# in a key either (a ``sessionId``, ``requestId``, tool_use id, line uuid or a path: Claude Code names project folders
# after the cwd), and every foreign key still joins (the same function maps a session id wherever it is stored).
# The linking columns (a parent's request id, a conversation id) are made by the writer from task ids stored so.
# The schema migration rewrites the columns of these keys stored before (store/migrations.py ``KEY_COLUMNS``).
_DATA_KEYS = frozenset(("id", "session_id", "task_id", "request_id", "message_id", "source_path"))
_TEXT_FIELDS: dict[type, tuple] = {}
# What the writer redacts, declared once (``redact_batch`` and the schema migration that redacts the rows stored
# before, store/migrations.py ``redacted_at_write``, both read these): the Batch lists of records, whose every string
# field but the keys is redacted (stored in the column of the field's name), and of rows (dicts keyed by column),
# whose every string value but the keys is; and the keys built from data text that no other row refers to (list ->
# key), redacted by ``redact_key``: a quota snapshot's id holds its window's name, from a header or the status line.
REDACTED_RECORDS = ("sessions", "tasks", "tool_uses", "tool_results", "errors", "routing")
REDACTED_ROWS = ("session_stats", "quota_snapshots")
REDACTED_KEYS = {"quota_snapshots": "id"}


def _getter(names: tuple):
    from operator import attrgetter

    if not names:
        return lambda r: ()
    return attrgetter(*names) if len(names) > 1 else (lambda r, n=names[0]: (getattr(r, n),))


def text_fields(cls) -> tuple[str, ...]:
    """The fields of the record type ``cls`` that the writer redacts: its string fields that are not keys."""
    return _text_fields_of(cls)[0]


def _text_fields(rec) -> tuple:
    """``rec``'s string fields that are not keys (with a getter of their values: one C call) and its keys taken from
    data."""
    got = _TEXT_FIELDS.get(type(rec))
    return got if got is not None else _text_fields_of(type(rec))


def _text_fields_of(cls) -> tuple:
    got = _TEXT_FIELDS.get(cls)
    if got is None:
        from dataclasses import fields

        strs = [f.name for f in fields(cls) if "str" in str(f.type)]
        names = tuple(n for n in strs if n not in KEY_FIELDS)
        keys = tuple(n for n in strs if n in _DATA_KEYS)
        got = _TEXT_FIELDS[cls] = (names, _getter(names), keys)
    return got


# a lone surrogate: text no database or JSON holds (the writer stores it as U+FFFD: store/writer.py _text)
SURROGATE = re.compile("[\ud800-\udfff]")


def storable(v):
    """``v`` with every lone surrogate in its strings (keys too) as U+FFFD, lists for tuples: for an event that
    JSON (orjson) refused to write for them."""
    if isinstance(v, str):
        return SURROGATE.sub("\ufffd", v)
    if isinstance(v, dict):
        return {storable(k): storable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [storable(x) for x in v]
    return v


def redact_key(v: str) -> str:
    """A key built from data text (``REDACTED_KEYS``), cut to MAX_KEY_CHARS as every key is: as it is when it holds
    no secret, else redacted with ``#`` and a hash of it after (BLAKE2b, 64 bits), so two keys that differ only by
    their secrets, or by what a keyword pair's value took after the secret (``sl:token:<time>...``), stay two. Pure
    and stable: a source read again gives the same id (ingest stays idempotent), and the schema migration rewrites
    the keys stored before with this same function."""
    from hashlib import blake2b

    v = v[:MAX_KEY_CHARS]
    if SURROGATE.search(v):  # as the writer stores text (a lone surrogate as U+FFFD): a file name of bytes that
        v = SURROGATE.sub("\ufffd", v)  # are not UTF-8 has its cursor found again, and the light pass can bind it
    got = redact(v)
    if got == v:
        return v
    return got[:MAX_KEY_CHARS - 17] + "#" + blake2b(v.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


_KEYS: dict[str, str] = {}  # key -> as stored (bounded: cleared when full); a session id or path repeats a lot
_KEYS_KEPT = 65536
# An id of the shape ``<lower-case prefix>_<letters and digits>`` (``req_…``, ``msg_…``, ``toolu_…``), shorter than
# the cut key's 499 characters, can hold a secret only where a rule needs no punctuation but one underscore: a prefix
# that is a key's (``ghp_``, ``hf_``, ``npm_``, ``gsk_``, ``whsec_``, ``shpat_``...: the hints of that form) or a body
# that ends with GitHub's ``gh?`` (glued keys count) or a body holding the start of an AWS or Google API key anywhere
# (they are taken glued to letters too). Every other rule needs a dash, dot, colon,
# space, equals sign, a second underscore or the text's end (tests/test_redact_keys.py holds each rule to this).
_KEY_PREFIXES = frozenset(h[:-1] for h in _HINTS if re.fullmatch(r"[a-z0-9]+_", h))
_KEY_STARTS = ("A3T", "AKIA", "ASIA", "ABIA", "ACCA", "AIza")
# what needs no redact_key: a lower-case hexadecimal id (a uuid, a hash: every rule needs a letter past ``f``, an
# upper-case letter or other punctuation), or such a ``<prefix>_<letters and digits>`` id, after a ``<word>:`` made
# by a parser (``msg:…``, an error's ``tool:…``) whose word holds no keyword of a ``name: value`` pair
_CLEAN_KEY = re.compile(r"[0-9a-f-]{0,%d}|(?:(?![a-z]*(?:pass|pwd|secret|token|key))[a-z]{1,8}:)?"
                        r"(?!(?:%s)_|[a-z]*gh[pousr]_)[a-z]{1,8}_(?![A-Za-z0-9]*(?:%s))[A-Za-z0-9]{8,200}" % (
                            MAX_KEY_CHARS, "|".join(sorted(_KEY_PREFIXES)), "|".join(_KEY_STARTS)))


def key_of(v):
    """``redact_key(v)`` for a key or path taken from data (``_DATA_KEYS``), each distinct value computed once per
    process; an id that no rule can match (``_CLEAN_KEY``: a uuid, a ``req_…`` id) is passed at once. Anything not
    a str is returned as is."""
    if type(v) is not str or _CLEAN_KEY.fullmatch(v):
        return v
    got = _KEYS.get(v)
    return got if got is not None else _keep(_KEYS, _KEYS_KEPT, v, redact_key)


def _bounded(v: str, limit: int) -> str:
    """``v`` cut to ``limit`` characters, its secrets redacted before the cut (a key across it leaves no fragment)."""
    return redact(v[: limit + 400])[:limit]


def redact_batch(batch) -> None:
    """Redact, in place, every string a parsed Batch carries to the store except its keys (``KEY_FIELDS``): error
    messages and their context, error types and components, routing reasons, session titles, and the labels sources
    fill from data (a proxy's ``x-nexus-persona`` and user agent, an account id, a project, a model, a tool name).
    Every string is bounded too (guard.MAX_TEXT_CHARS, keys guard.MAX_KEY_CHARS, cut the same way wherever a key
    appears): a model, tool or session id of megabytes from OTLP or the event log was stored whole, in every rollup.
    One call in the writer's ``prepare()``: every source goes through it. A value is redacted once per batch (a
    failed tool's text is both its call's error_message and its errors row; a model repeats on every task), and a
    record whose text fields all equal those of one already found clean is passed over (one tuple lookup)."""
    from operator import attrgetter

    from nexus_tui.core.parse.guard import MAX_KEY_CHARS, MAX_TEXT_CHARS

    seen: dict[str, str] = {}

    def r(v):
        got = seen.get(v)
        if got is None:
            got = seen[v] = redact(v) if len(v) <= MAX_TEXT_CHARS else _bounded(v, MAX_TEXT_CHARS)
        return got

    clean: set = set()
    for name in REDACTED_RECORDS:
        recs = getattr(batch, name)
        if not recs:
            continue
        names, get, keys = _text_fields(recs[0])  # one record type per list
        for rec in recs:
            vals = get(rec)
            try:
                if vals in clean:
                    continue
            except TypeError:  # a value that is not hashable (not text): checked one by one below
                vals = tuple(vals)
            changed = False
            for i, v in enumerate(vals):
                if type(v) is str and len(v) >= 8:
                    got = r(v)
                    if got is not v and got != v:
                        setattr(rec, names[i], got)
                        changed = True
            if not changed:
                try:
                    clean.add(vals)
                except TypeError:
                    pass
    for name in REDACTED_ROWS:
        data_key = REDACTED_KEYS.get(name)
        for row in getattr(batch, name):
            for k, v in row.items():
                if type(v) is not str or not v:
                    continue
                if k == data_key:
                    got = redact_key(v)
                    if got is not v:
                        row[k] = got
                    continue
                if k in KEY_FIELDS:
                    got = key_of(v) if k in _DATA_KEYS else v[:MAX_KEY_CHARS]
                    if got is not v:
                        row[k] = got
                    continue
                got = r(v)
                if got is not v:
                    row[k] = got
    titles = batch.titles
    for i, row in enumerate(titles):
        if row[0] == "title" and isinstance(row[3], str):
            got = r(row[3])
            if got != row[3]:
                titles[i] = (*row[:3], got, *row[4:])
    _map_keys(batch)


def _hex_only(values: list) -> bool:
    """Whether every value is lower-case hexadecimal text with dashes (uuids), no longer than a key: checked over
    their concatenation in a few C calls (``bytes.fromhex`` also allows spaces, which no rule matches with these
    either); False when in doubt (a value not text, an odd count of digits)."""
    try:
        joined = "".join(values)
        if joined != joined.lower() or max(map(len, values), default=0) > MAX_KEY_CHARS:
            return False
        bytes.fromhex(joined.replace("-", ""))
    except (TypeError, ValueError):
        return False
    return True


def _map_keys(batch) -> None:
    """Every key and path ``batch`` took from data (``_DATA_KEYS`` of its records, the session stats' sessions, the
    title records' uuids, line ids and sessions, the links' and ratings' tasks) as the writer stores it
    (``key_of``). The values no rule can match (``_CLEAN_KEY``: uuids, ``req_…`` ids) are left out in C calls, the
    others mapped once each, and the records rewritten only when a value holds a secret (rarely)."""
    from itertools import chain, compress, filterfalse, repeat
    from operator import attrgetter, eq, itemgetter

    lists = []
    for name in REDACTED_RECORDS:
        recs = getattr(batch, name)
        if recs:
            lists.extend((recs, key) for key in _text_fields(recs[0])[2])  # one record type per list
    titles = batch.titles
    # ("title", line id, kind, title, leaf, session, offset) among the ("uuid", ...) of every line: found in C calls
    heads = list(compress(titles, map(eq, map(itemgetter(0), titles), repeat("title"))))
    values = [map(attrgetter(key), recs) for recs, key in lists]
    if titles:  # ("uuid", uuid, session, ts), and the title lines' ids
        uuids = list(map(itemgetter(1), titles))
        if not _hex_only(uuids):  # (a line's uuid each: checked at once when they all are)
            values.append(uuids)
        values += [map(itemgetter(2), titles), map(itemgetter(4), heads), map(itemgetter(5), heads)]
    try:  # in C calls: the values no rule can match left out, the rest once each
        rest = set(filterfalse(_CLEAN_KEY.fullmatch, set(filter(None, chain.from_iterable(values)))))
    except TypeError:  # a key that is not text: every value looked at below
        rest = {v for recs, key in lists for v in map(attrgetter(key), recs) if type(v) is str}
        rest |= {v for t in titles for v in t[1:] if type(v) is str}
    bad = {}
    for v in rest:
        if type(v) is str:
            got = key_of(v)
            if got is not v and got != v:
                bad[v] = got
    if bad:
        for recs, key in lists:
            for rec in recs:
                v = getattr(rec, key)
                if type(v) is str and v in bad:
                    setattr(rec, key, bad[v])
        for i, row in enumerate(titles):
            if any(type(v) is str and v in bad for v in row[1:]):
                titles[i] = (row[0], *(bad.get(v, v) if type(v) is str and j in (1, 2, 4, 5) else v
                                       for j, v in enumerate(row[1:], 1)))
    for link in batch.links:  # a recorded request's linking keys, stored by its task's id
        if isinstance(link, dict) and type(link.get("task_id")) is str:
            link["task_id"] = key_of(link["task_id"])
    for rating in batch.ratings:
        rating.task_id = key_of(rating.task_id)


_AS_IS = frozenset((int, float, bool, type(None)))


def redact_state(state):
    """A parser's state as its cursor stores it (JSON: tool names waiting for their result, a request's model...):
    every string value redacted, the names of objects (ids: a tool_use id, a line uuid) as the writer stores keys
    (``key_of``: as they are unless they hold a secret). The rows built from the state are redacted by the writer the
    same way, so reading on from a redacted state gives the same rows (but for an id holding a secret, whose entry the
    next pass no longer finds by the id it reads)."""
    if isinstance(state, dict):  # (numbers and None, most of a state's values, are kept without a call)
        return {key_of(k): v if type(v) in _AS_IS else redact_state(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):  # (a parser keeps tuples: stored as JSON lists)
        return [v if type(v) in _AS_IS else redact_state(v) for v in state]
    if type(state) is str and len(state) >= 8:
        return redact(state)
    return state


_NESTED_NAMES: dict[str, str] = {}  # the names of nested objects seen, as redacted (a proxy's header names repeat)


def redact_event(ev: dict, keep: frozenset = frozenset(), _nested: bool = False) -> dict:
    """An event-log record with its string values redacted (nested lists and objects too); the top-level values
    named in ``keep`` (hashes, fixed vocabularies) as they are. The names of nested objects come from data (a status
    line's rate-limit windows, a response's header names) and are redacted too; the top level's are the record's
    own fields."""
    out = {}
    for k, v in ev.items():
        if _nested and isinstance(k, str):
            got = _NESTED_NAMES.get(k)
            if got is None:  # two names that differ only by their secrets stay two (a hash of each)
                got = redact_key(k)
                if len(got) > len(k):  # the hash kept: it tells two such names apart
                    got = (got[:max(0, len(k) - 17)] + got[-17:])[-len(k):]
                if len(_NESTED_NAMES) >= 4096:
                    _NESTED_NAMES.clear()
                _NESTED_NAMES[k] = got
            k = got
        if k in keep:
            out[k] = v
        elif isinstance(v, str):
            out[k] = _no_longer(v)
        elif isinstance(v, dict):
            out[k] = redact_event(v, _nested=True)
        elif isinstance(v, list):
            out[k] = [redact_event(x, _nested=True) if isinstance(x, dict) else
                      _no_longer(x) if isinstance(x, str) else redact(x) for x in v]
        else:
            out[k] = v
    return out


def _no_longer(v: str) -> str:
    """``v`` redacted, cut to ``v``'s length: its writer bounded it to the event schema's length, and a mark can be
    longer than what it replaces ('pwd=[REDACTED:password]' for 'pwd=x'): a status line's cwd or a proxied model
    grown past its bound made the whole event one the collector refuses."""
    got = redact(v)
    return got if len(got) <= len(v) else got[:len(v)]
