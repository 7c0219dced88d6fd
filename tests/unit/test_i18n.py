"""User-facing strings: complete in every language, and every key the pages use exists.

Templates call ``t("key")``. Scripts get the table for their language as JSON and read it
through ``LD.t(key, vars, fallback)`` (also matched: ``S["key"]``, ``STRINGS["key"]``,
``data-i18n="key"`` and string values of ``*_LABEL = {...}`` maps). Only literal keys can be
checked; keys built at run time (``"agent.status." + status``) get a test of their own.
"""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from signaling.i18n import LANGUAGES, STRINGS, pick_language, t, table
from signaling.routing import Presence

WEB = Path(__file__).resolve().parents[2] / "web"

KEY = r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+"
_VARS = r"(?:null|undefined|\{[^{}]*\}|[\w.]+)"
PATTERNS = {
    "template": [re.compile(rf"""\bt\(\s*(["'])(?P<key>{KEY})\1""")],
    "script": [
        # t("key") / LD.t("key", vars, "fallback key")
        re.compile(
            rf"""\bt\(\s*(["'])(?P<key>{KEY})\1"""
            rf"""(?:\s*,\s*{_VARS}\s*,\s*(["'])(?P<fallback>{KEY})\3)?"""
        ),
        re.compile(rf"""\b(?:S|STR|STRINGS|strings)\[\s*(["'])(?P<key>{KEY})\1\s*\]"""),
        re.compile(r"""\b[A-Z_]*LABELS?\s*=\s*\{(?P<map>[^{}]*)\}"""),
    ],
    "any": [re.compile(rf"""data-i18n(?:-[a-z]+)?=(["'])(?P<key>{KEY})\1""")],
}
MAP_VALUE = re.compile(rf"""(["'])({KEY})\1""")


def keys_in(text: str, kind: str) -> set[str]:
    """Literal string keys a template or script reads."""
    found: set[str] = set()
    for pattern in PATTERNS[kind] + PATTERNS["any"]:
        for m in pattern.finditer(text):
            groups = m.groupdict()
            found |= {groups[g] for g in ("key", "fallback") if groups.get(g)}
            if groups.get("map"):
                found |= {v for _, v in MAP_VALUE.findall(groups["map"])}
    return found


def uses(folder: str, globs: tuple[str, ...], kind: str) -> list[tuple[str, str]]:
    files = sorted(f for g in globs for f in (WEB / folder).glob(g))
    return sorted(
        (f.name, key) for f in files for key in keys_in(f.read_text(encoding="utf-8"), kind)
    )


TEMPLATE_USES = uses("templates", ("*.html",), "template")
SCRIPT_USES = uses("static", ("*.js", "*.mjs"), "script")

# keys the scripts read (with a fallback) that signaling/i18n.py does not have yet
KNOWN_MISSING: set[tuple[str, str]] = set()


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


# ---------------------------------------------------------------- the table


def test_every_key_has_every_language():
    incomplete = {
        key
        for key, texts in STRINGS.items()
        if set(texts) != set(LANGUAGES) or not all(texts[lang].strip() for lang in LANGUAGES)
    }
    assert incomplete == set()


def same_value(names: set[str]) -> set[str]:
    """``holiday_en`` is the English form of ``holiday``: the same value, per language."""
    return {n.removesuffix("_en") for n in names}


def test_translations_use_the_same_placeholders():
    mismatched = {
        key: (placeholders(texts["en"]), placeholders(texts["ko"]))
        for key, texts in STRINGS.items()
        if same_value(placeholders(texts["en"])) != same_value(placeholders(texts.get("ko", "")))
    }
    assert mismatched == {}


@pytest.mark.parametrize("status", list(Presence))
def test_every_agent_presence_has_a_label(status: Presence):
    assert f"agent.status.{status.value}" in STRINGS


def test_table_has_every_key_in_the_language():
    ko = table("ko")
    assert set(ko) == set(STRINGS)
    assert ko["customer.send"] == "보내기"
    assert table("en")["customer.send"] == "Send"


def test_missing_translation_falls_back_to_english(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(STRINGS, "test.only_english", {"en": "Only English"})
    assert t("test.only_english", "ko") == "Only English"
    assert table("ko")["test.only_english"] == "Only English"


def test_unknown_language_gets_english():
    assert t("customer.send", "fr") == "Send"


# ---------------------------------------------------------------- t()


@pytest.mark.parametrize(
    ("key", "lang", "values", "expected"),
    [
        ("customer.queued", "en", {"position": 3}, "You are number 3 in the queue."),
        ("customer.queued", "ko", {"position": 3}, "대기 순서: 3번째입니다."),
        ("agent.load", "en", {"load": 1, "capacity": 3}, "1 of 3 sessions"),
        ("customer.agent_joined", "ko", {"name": "Ann"}, "Ann 상담원이 입장했습니다."),
        ("customer.send", "ko", None, "보내기"),
        ("customer.queued", "en", None, "You are number {position} in the queue."),
    ],
)
def test_t_picks_the_language_and_fills_placeholders(
    key: str, lang: str, values: dict | None, expected: str
):
    assert t(key, lang, values) == expected


def test_t_with_an_unknown_key_is_a_programming_error():
    with pytest.raises(KeyError):
        t("customer.no_such_string", "en")


# ---------------------------------------------------------------- pick_language


@pytest.mark.parametrize(
    ("entry_language", "accept_language", "expected"),
    [
        ("ko", None, "ko"),
        ("ko", "en-US,en;q=0.9", "ko"),  # the entry's setting wins
        ("en", "ko-KR", "en"),
        ("", None, "en"),
        ("", "", "en"),
        ("", "ko-KR,ko;q=0.9,en-US;q=0.8", "ko"),
        ("", "en;q=0.5, ko;q=0.9", "ko"),  # highest q first, not header order
        ("", "ko;q=0.4, en", "en"),  # no q means 1.0
        ("", "fr-FR, de;q=0.9, ko;q=0.3", "ko"),  # unsupported languages are skipped
        ("", "fr, de", "en"),
        ("", "KO-kr", "ko"),
        ("", "*", "en"),
        ("", "ko;q=abc, en;q=0.5", "en"),  # an unreadable q counts as 0
        ("", " , ,ko", "ko"),
        ("fr", "ko", "ko"),  # an unsupported entry language defers to the browser
    ],
)
def test_pick_language(entry_language: str, accept_language: str | None, expected: str):
    assert pick_language(entry_language, accept_language) == expected


def test_pick_language_reads_only_the_first_20_languages():
    header = ",".join(["fr"] * 20 + ["ko"])
    assert pick_language("", header) == "en"


# ---------------------------------------------------------------- keys used by the pages


def test_the_key_patterns_find_keys_however_they_are_read():
    script = """
      el.textContent = t("customer.send");  btn.title = S['agent.accept'];
      label = STRINGS["chat.read"]; html = `<b data-i18n="common.close">`;
      who = LD.t("agent.customer", null, "agent.offer");
      var STATE_LABEL = { sending: "chat.sending", sent: 'chat.sent' };
      ws.send({type: "chat.send"}); t("agent.status." + s); S[key]; request("session.watch");
    """
    assert keys_in(script, "script") == {
        "customer.send",
        "agent.accept",
        "chat.read",
        "common.close",
        "agent.customer",
        "agent.offer",
        "chat.sending",
        "chat.sent",
    }
    assert keys_in("<title>{{ t(\"app.name\") }}</title><p>{{ t('agent.title') }}", "template") == {
        "app.name",
        "agent.title",
    }


def test_templates_use_some_keys():
    assert ("base.html", "app.name") in TEMPLATE_USES


@pytest.mark.parametrize(("file", "key"), TEMPLATE_USES, ids=[f"{f}:{k}" for f, k in TEMPLATE_USES])
def test_every_key_a_template_uses_exists(file: str, key: str):
    assert key in STRINGS


def _script_param(file: str, key: str):
    marks = []
    if (file, key) in KNOWN_MISSING:
        reason = f"bug: web/static/{file} reads {key!r}, missing from signaling/i18n.py STRINGS"
        marks.append(pytest.mark.xfail(strict=True, reason=reason))
    return pytest.param(file, key, id=f"{file}:{key}", marks=marks)


@pytest.mark.parametrize(
    ("file", "key"),
    [_script_param(f, k) for f, k in SCRIPT_USES]
    or [pytest.param("", "", marks=pytest.mark.skip(reason="no scripts in web/static yet"))],
)
def test_every_key_a_script_uses_exists(file: str, key: str):
    assert key in STRINGS
