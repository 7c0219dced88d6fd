"""Hypothesis strategies for WebSocket frames, one family per inbound message type.

Every type starts from its valid example in ``tests/unit/test_protocol.py`` (the seed),
with the session id, token and SDP taken from the live world. From there: values that
fit the schema, one field flipped to a hostile value, fields dropped or added, the
frame truncated or its bytes mutated, random JSON and random bytes, deep nesting,
frames over the size limit, text that is not UTF-8, binary frames, and for
``media.offer`` mutated real SDP offers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from hypothesis import strategies as st

from signaling import protocol as p
from tests.fuzzing.sdp import OFFERS, SdpCase, recv_lists, sdp_cases, send_lists
from tests.fuzzing.values import (
    NOT_UTF8,
    OTHER_SESSION,
    SESSION,
    TOKEN,
    Placeholder,
    Raw,
    dumps,
    hostile,
    json_values,
    long_strings,
    nested,
    resolve,
    struct_value,
    type_info,
)
from tests.unit.test_protocol import VALID

STRUCTS: dict[str, type[msgspec.Struct]] = {
    str(t.__struct_config__.tag): t for t in p.Inbound.__args__
}


def seed(kind: str) -> dict[str, Any]:
    """The valid example of ``kind``, pointed at the live session."""
    obj = dict(VALID[kind][0])
    if "session" in obj:
        obj["session"] = SESSION
    if kind == "hello":
        obj["token"] = TOKEN
        obj["resume"] = {SESSION: 0}
    if kind == "media.offer":
        obj["sdp"] = SdpCase("aiortc", ())
        obj["send"] = [{"mid": "0", "source": "mic"}, {"mid": "1", "source": "camera"}]
        obj["recv"] = []
    return obj


@dataclass(frozen=True)
class WsCase:
    """One frame to send: a JSON value (with placeholders), byte edits, and how to send it.

    ``opcode`` is ``text`` (a text frame; bytes that are not UTF-8 still go as a text
    frame, which the server must refuse) or ``binary``.
    """

    kind: str
    how: str
    value: Any = None
    edits: tuple[tuple[Any, ...], ...] = ()
    opcode: str = "text"
    raw: bytes | None = None

    def render(self, ctx: dict[str, Any]) -> bytes:
        data = self.raw if self.raw is not None else dumps(_resolve_all(self.value, ctx))
        for edit in self.edits:
            data = apply_edit(data, edit)
        return data


def _resolve_all(value: Any, ctx: dict[str, Any]) -> Any:
    if isinstance(value, SdpCase):
        return value.render()
    if isinstance(value, dict):
        return {_key(k, ctx): _resolve_all(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve_all(v, ctx) for v in value]
    return resolve(value, ctx)


def _key(k: Any, ctx: dict[str, Any]) -> str:
    k = resolve(k, ctx)
    return k if isinstance(k, str) else str(k)


def apply_edit(data: bytes, edit: tuple[Any, ...]) -> bytes:
    """One byte-level edit of a rendered frame (positions taken modulo its length)."""
    name, args = edit[0], edit[1:]
    n = max(1, len(data))
    if name == "truncate":
        return data[: args[0] % n]
    if name == "flip":
        i = args[0] % n
        return data[:i] + bytes([args[1]]) + data[i + 1 :]
    if name == "delete":
        i = args[0] % n
        return data[:i] + data[i + args[1] :]
    if name == "insert":
        i = args[0] % (n + 1)
        return data[:i] + args[1] + data[i:]
    if name == "dup":
        i = args[0] % n
        return data[:i] + data[i : i + args[1]] * 2 + data[i + args[1] :]
    if name == "prefix":
        return args[0] + data
    if name == "suffix":
        return data + args[0]
    if name == "dupkey":  # a second value for a key, first in the object
        return data.replace(b"{", b"{" + args[0] + b",", 1) if data.startswith(b"{") else data
    raise ValueError(name)


# ---------------------------------------------------------------- strategies

byte_edits = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 20)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from([*NOT_UTF8, b"\x00"])),
    st.tuples(st.just("dup"), st.integers(0, 10_000), st.integers(1, 30)),
    st.tuples(st.just("prefix"), st.sampled_from([b"\xef\xbb\xbf", b" ", b"\x00", b"[", b"{"])),
    st.tuples(st.just("suffix"), st.sampled_from([b" ", b"\x00", b"}", b",", b"{}", b"\n"])),
)

other_kinds = st.sampled_from(sorted(STRUCTS))
field_names_any = st.sampled_from(
    sorted({f.encode_name for cls in STRUCTS.values() for f in type_info(cls).fields} | {"type"})
)


def _flip(obj: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    return {**obj, name: value}


def _drop(obj: dict[str, Any], names: list[str]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in names}


def _valid(kind: str) -> st.SearchStrategy[Any]:
    """Messages the codec accepts, with values across the schema's range."""
    info = type_info(STRUCTS[kind])
    ph = {"session": SESSION, "token": TOKEN}
    base = struct_value(info, placeholders=ph)
    if kind == "media.offer":
        return st.builds(
            lambda d, sdp, send, recv: {**d, "sdp": sdp, "send": send, "recv": recv},
            base,
            st.just(SdpCase("aiortc", ())) | st.just(SdpCase("chromium", ())),
            send_lists("aiortc"),
            recv_lists,
        )
    if kind == "hello":
        # a real token mostly: a random string only tests the token check
        return base.map(lambda d: {**d, "token": TOKEN} if "token" not in d or d["token"] else d)
    return base


def _sessions() -> st.SearchStrategy[Any]:
    return st.sampled_from([SESSION, OTHER_SESSION, "s1", "a" * 64]) | st.from_regex(
        r"[A-Za-z0-9_-]{1,64}", fullmatch=True
    )


def ws_cases(kind: str, *, malformed_only: bool = False) -> st.SearchStrategy[WsCase]:
    """Every way the fuzzer sends a ``kind`` message (``malformed_only``: not the seed nor
    the schema-valid ones)."""
    s = seed(kind)
    names = [*s.keys(), *(f.encode_name for f in type_info(STRUCTS[kind]).fields)]
    names = sorted(set(names))
    some_field = st.sampled_from(names)
    string_fields = sorted(k for k, v in s.items() if isinstance(v, str | Placeholder | SdpCase))

    families: list[st.SearchStrategy[WsCase]] = [
        st.just(WsCase(kind, "seed", s)),
        st.builds(lambda v: WsCase(kind, "valid", v), _valid(kind)),
        st.builds(lambda v: WsCase(kind, "valid", v), _valid(kind)),
        st.builds(
            lambda name, v: WsCase(kind, "flip", _flip(s, name, v)),
            some_field,
            hostile,
        ),
        st.builds(
            lambda v: (
                WsCase(kind, "flip", _flip(s, "session", v))
                if "session" in s
                else WsCase(kind, "flip", _flip(s, "id", v))
            ),
            _sessions(),
        ),
        st.builds(
            lambda drop: WsCase(kind, "drop", _drop(s, drop)),
            st.lists(some_field, min_size=1, max_size=3),
        ),
        st.builds(
            lambda extra: WsCase(kind, "unknown", {**s, **extra}),
            st.dictionaries(
                field_names_any | st.text(max_size=10), hostile, min_size=1, max_size=3
            ),
        ),
        st.builds(
            lambda at: WsCase(kind, "truncate", s, (("truncate", at),)),
            st.integers(0, 10_000),
        ),
        st.builds(
            lambda edits: WsCase(kind, "mutate", s, tuple(edits)),
            st.lists(byte_edits, min_size=1, max_size=4),
        ),
        st.builds(
            lambda other: WsCase(kind, "dupkey", s, (("dupkey", b'"type":"%s"' % other.encode()),)),
            other_kinds,
        ),
        st.builds(
            lambda fields: WsCase(kind, "random_fields", {"type": kind, **fields}),
            st.dictionaries(some_field | field_names_any, json_values | hostile, max_size=6),
        ),
        st.builds(lambda v: WsCase(kind, "random_json", v), json_values),
        st.builds(
            lambda b: WsCase(kind, "random_bytes", raw=b),
            st.binary(max_size=200),
        ),
        st.builds(
            lambda b: WsCase(kind, "binary", raw=b, opcode="binary"),
            st.binary(max_size=200),
        ),
        st.just(WsCase(kind, "binary", s, opcode="binary")),
        st.builds(
            lambda name, depth, how: WsCase(kind, "nest", _flip(s, name, nested(depth, kind=how))),
            some_field,
            st.sampled_from([10, 100, 1000, 10_000, 30_000]),
            st.sampled_from(["list", "dict"]),
        ),
        st.builds(
            lambda depth: WsCase(kind, "nest", raw=nested(depth).data),
            st.sampled_from([100, 10_000, 60_000]),
        ),
    ]
    if string_fields:
        field = st.sampled_from(string_fields)
        families += [
            st.builds(
                lambda name, text: WsCase(kind, "oversize", _flip(s, name, text)),
                field,
                long_strings,
            ),
            st.builds(
                lambda name, bad: WsCase(kind, "not_utf8", _flip(s, name, Raw(b'"x' + bad + b'"'))),
                field,
                st.sampled_from(NOT_UTF8),
            ),
        ]
    if kind == "media.offer":
        sdp_family = st.builds(
            lambda sdp, send, recv: WsCase(
                kind, "sdp", {**s, "sdp": sdp, "send": send, "recv": recv}
            ),
            sdp_cases,
            st.one_of([send_lists(b) for b in sorted(OFFERS)]),
            recv_lists,
        )
        families += [sdp_family] * 6
    if malformed_only:
        families = families[3:]
    return st.one_of(families)


__all__ = ["STRUCTS", "WsCase", "seed", "ws_cases"]
