"""Hypothesis strategies for the HTTP API: every POST and PUT route, its body, path and
credentials.

``TARGETS`` has one entry per state-changing route of the application's router;
``routes_without_target`` lists any route that has none, so a new endpoint fails the
fuzz test until it is covered. Each target has a seed body (a valid request, pointed at
the live world through placeholders) and, when it decodes into a msgspec struct, that
struct for schema-driven values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec
from hypothesis import strategies as st

from signaling import fallback
from signaling.http_api import LoginBody, StartSession
from signaling.kpi_api import CsatBody
from signaling.link_api import NewCase, NewLink
from signaling.review_api import CommentBody, ScoreBody
from tests.fuzzing.frames import apply_edit, byte_edits
from tests.fuzzing.server import PASSWORD
from tests.fuzzing.values import (
    NOT_UTF8,
    ODD_STRINGS,
    Placeholder,
    Raw,
    dumps,
    hostile,
    json_values,
    nested,
    resolve,
    struct_value,
    type_info,
)

RETIRED = Placeholder("retired")
"""An ended session an agent served (its customer may answer the survey)."""
RECORDED = Placeholder("recorded")
HAL_CASE = Placeholder("hal_case")

MAX_BODY = 256 * 1024


@dataclass(frozen=True)
class Target:
    """One route: method, path template, who calls it, a valid body."""

    name: str
    method: str
    path: str
    auth: str
    """``none``, ``customer`` (Bearer company token), ``participant`` (Bearer token of the
    path's session), or ``staff:<username>`` (login cookie)."""
    seed: Any
    struct: type[msgspec.Struct] | None = None
    params: tuple[tuple[str, Any], ...] = ()
    """Path parameters and their real values."""


SCORE_ANSWERS = {
    "greeting": {"value": True},
    "disclosure": {"value": False, "comment": "did not say it"},
    "resolution": {"value": 4},
    "tone": {"value": 5},
}

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "start session",
            "POST",
            "/api/sessions",
            "none",
            {"entry": "fuzz", "text": "hi there", "name": "Kim", "page": "https://shop/p"},
            StartSession,
        ),
        Target(
            "start vouched session",
            "POST",
            "/api/sessions",
            "customer",
            {"entry": "fuzz", "text": "a premium question", "channel": "video"},
            StartSession,
        ),
        Target(
            "login",
            "POST",
            "/api/login",
            "none",
            {"username": "nobody_here", "password": "not the password"},
            LoginBody,
        ),
        Target("logout", "POST", "/api/logout", "none", None),
        Target(
            "callback",
            "POST",
            "/api/entry/{entry}/callback",
            "none",
            {"name": "Kim", "contact": "+44 20 7946 0000", "preferred_time": "9am", "note": "x"},
            fallback.CallbackRequest,
            (("entry", "fuzz"),),
        ),
        Target(
            "message",
            "POST",
            "/api/entry/{entry}/message",
            "none",
            {"name": "Kim", "contact": "kim@example.com", "text": "call me"},
            fallback.LeftMessage,
            (("entry", "fuzz"),),
        ),
        Target(
            "personal link",
            "POST",
            "/api/links",
            "customer",
            {"entry": "fuzz", "ttl_s": 600},
            NewLink,
        ),
        Target(
            "invitation link",
            "POST",
            "/api/links",
            "staff:agent_hal",
            {"entry": "desk", "case": HAL_CASE},
            NewLink,
        ),
        Target(
            "phone case",
            "POST",
            "/api/cases",
            "staff:agent_hal",
            {"entry": "desk", "customer_name": "Caller", "tier": "standard"},
            NewCase,
        ),
        Target(
            "fallback handled",
            "POST",
            "/api/fallbacks/{id}/handled",
            "staff:agent_hal",
            None,
            params=(("id", "1"),),
        ),
        Target(
            "job cancel",
            "POST",
            "/api/jobs/{job}/cancel",
            "staff:qa_quinn",
            None,
            params=(("job", "1"),),
        ),
        Target(
            "job retry",
            "POST",
            "/api/jobs/{job}/retry",
            "staff:qa_quinn",
            None,
            params=(("job", "1"),),
        ),
        Target(
            "score",
            "PUT",
            "/api/recordings/{session}/score",
            "staff:qa_quinn",
            {"answers": SCORE_ANSWERS},
            ScoreBody,
            (("session", RECORDED),),
        ),
        Target(
            "comment",
            "POST",
            "/api/recordings/{session}/comments",
            "staff:qa_quinn",
            {"at": 12.5, "text": "good save here"},
            CommentBody,
            (("session", RECORDED),),
        ),
        Target(
            "csat",
            "POST",
            "/api/sessions/{session}/csat",
            "participant",
            {"score": 5},
            CsatBody,
            (("session", RETIRED),),
        ),
    )
}


def routes_without_target(routes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(method, path)`` routes of the router that no target covers."""
    covered = {(t.method, t.path) for t in TARGETS.values()}
    return [r for r in routes if r not in covered]


@dataclass(frozen=True)
class HttpCase:
    """One request: the target, its path values, credentials, headers and body."""

    target: str
    how: str
    body: Any = None
    """A JSON value (with placeholders), or None for no body."""
    raw: bytes | None = None
    edits: tuple[tuple[Any, ...], ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    auth: str = ""
    """Empty: the target's own credentials."""
    content_type: str = "application/json"
    origin: str = ""

    def path(self, ctx: dict[str, Any]) -> str:
        t = TARGETS[self.target]
        values = dict(t.params) | dict(self.params)
        path = t.path
        for name, value in values.items():
            text = str(resolve(value, ctx))
            path = path.replace("{" + name + "}", quote(text, safe=""))
        return path

    def data(self, ctx: dict[str, Any]) -> bytes:
        if self.raw is not None:
            data = self.raw
        elif self.body is None:
            data = b""
        else:
            data = dumps(resolve(self.body, ctx))
        for edit in self.edits:
            data = apply_edit(data, edit)
        return data


_path_values = st.one_of(
    st.sampled_from([*ODD_STRINGS, "0", "-1", "99999999999999999999", "1.5", "a" * 300]),
    st.text(min_size=1, max_size=40),
    st.integers(-(2**70), 2**70).map(str),
)
_auths = st.sampled_from(
    [
        *("none", "customer", "participant", "staff:agent_hal", "staff:qa_quinn"),
        *("staff:sup_sam", "garbage_bearer", "garbage_cookie", "basic"),
    ]
)
_content_types = st.sampled_from(
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""]
)


def http_cases(name: str) -> st.SearchStrategy[HttpCase]:
    """Every way the fuzzer calls the ``name`` target."""
    t = TARGETS[name]
    seed = t.seed
    families: list[st.SearchStrategy[HttpCase]] = [
        st.just(HttpCase(name, "seed", seed)),
        st.builds(lambda v: HttpCase(name, "random_json", v), json_values),
        st.builds(lambda b: HttpCase(name, "random_bytes", raw=b), st.binary(max_size=300)),
        st.builds(lambda v: HttpCase(name, "hostile", v), hostile),
        st.builds(
            lambda depth, kind: HttpCase(name, "nest", raw=nested(depth, kind=kind).data),
            st.sampled_from([100, 1000, 10_000, 100_000]),
            st.sampled_from(["list", "dict"]),
        ),
        st.builds(
            lambda n: HttpCase(name, "oversize", raw=b'{"x":"' + b"a" * n + b'"}'),
            st.sampled_from([MAX_BODY - 20, MAX_BODY + 1, 2 * MAX_BODY]),
        ),
        st.builds(lambda a: HttpCase(name, "auth", seed, auth=a), _auths),
        st.builds(lambda ct: HttpCase(name, "content_type", seed, content_type=ct), _content_types),
        st.just(HttpCase(name, "origin", seed, origin="https://evil.example")),
    ]
    if t.params:
        families.append(
            st.builds(
                lambda values: HttpCase(name, "path", seed, params=tuple(values)),
                st.tuples(*(st.tuples(st.just(p), _path_values) for p, _ in t.params)),
            )
        )
    if isinstance(seed, dict):
        names = sorted(
            {*seed, *(f.encode_name for f in type_info(t.struct).fields)} if t.struct else set(seed)
        )
        some_field = st.sampled_from(names)
        families += [
            st.builds(lambda k, v: HttpCase(name, "flip", {**seed, k: v}), some_field, hostile),
            st.builds(
                lambda drop: HttpCase(
                    name, "drop", {k: v for k, v in seed.items() if k not in drop}
                ),
                st.lists(some_field, min_size=1, max_size=3),
            ),
            st.builds(
                lambda extra: HttpCase(name, "unknown", {**seed, **extra}),
                st.dictionaries(st.text(max_size=10), hostile, min_size=1, max_size=3),
            ),
            st.builds(
                lambda at: HttpCase(name, "truncate", seed, edits=(("truncate", at),)),
                st.integers(0, 400),
            ),
            st.builds(
                lambda edits: HttpCase(name, "mutate", seed, edits=tuple(edits)),
                st.lists(byte_edits, min_size=1, max_size=4),
            ),
            st.builds(
                lambda k, bad: HttpCase(name, "not_utf8", {**seed, k: Raw(b'"x' + bad + b'"')}),
                some_field,
                st.sampled_from(NOT_UTF8),
            ),
            st.builds(
                lambda k, n: HttpCase(name, "nest", {**seed, k: nested(n)}),
                some_field,
                st.sampled_from([10, 1000, 50_000]),
            ),
        ]
    if t.struct is not None:
        ph = {k: v for k, v in (seed or {}).items() if isinstance(v, Placeholder) or k == "entry"}
        valid = struct_value(type_info(t.struct), placeholders=ph)
        families += [st.builds(lambda v: HttpCase(name, "valid", v), valid)] * 3
    if name == "login":
        real = {"username": "qa_quinn", "password": PASSWORD}
        families.append(st.just(HttpCase(name, "seed", real)))
    return st.one_of(families)
