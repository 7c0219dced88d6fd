"""Hypothesis strategies for JSON values: hostile ones, and ones that fit a msgspec schema.

``schema_value(type_info)`` draws values that pass the codec (at and near its bounds),
so the cases reach the handlers behind it; ``hostile`` draws the values a field should
never see. ``Placeholder`` stands for something only the running world knows (the
session id, the participant token): it is filled in just before a case is sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
from hypothesis import strategies as st


@dataclass(frozen=True)
class Placeholder:
    """A value from the live world: ``session``, ``other_session``, ``token``, ..."""

    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


SESSION = Placeholder("session")
OTHER_SESSION = Placeholder("other_session")
TOKEN = Placeholder("token")


def resolve(value: Any, ctx: dict[str, Any]) -> Any:
    """``value`` with every placeholder replaced from ``ctx``."""
    if isinstance(value, Placeholder):
        return ctx[value.name]
    if isinstance(value, dict):
        return {resolve(k, ctx): resolve(v, ctx) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [resolve(v, ctx) for v in value]
    return value


# ---------------------------------------------------------------- hostile values

ODD_STRINGS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202e\u2066evil",  # bidi overrides
    "\ufeff",
    "\U0001f600" * 3,
    "한국어",
    "\u0663\u0664",  # Arabic-Indic digits: str.isdigit() is True, int() refuses some forms
    "\u00b2",  # superscript two: isdigit() True, int() raises
    "NaN",
    "Infinity",
    "-Infinity",
    "-0",
    "1e309",
    "0x10",
    "null",
    "true",
    "[]",
    "{}",
    "../../etc/passwd",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "\\",
    '"',
    "\r\n\r\n",
]

HUGE_INTS = [
    2**31,
    2**32,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    2**64 + 1,
    10**30,
    -(2**63) - 1,
]


@dataclass(frozen=True)
class Raw:
    """Bytes spliced verbatim into the JSON text where this value stands: nesting deeper
    than ``json.dumps`` recurses, or bytes that are not UTF-8 inside a string."""

    data: bytes

    def __repr__(self) -> str:
        return f"Raw({self.data[:40]!r}{'...' if len(self.data) > 40 else ''} {len(self.data)} B)"


def nested(depth: int, *, kind: str = "list") -> Raw:
    """A value nested ``depth`` levels deep (lists, or objects keyed ``a``)."""
    if kind == "list":
        return Raw(b"[" * depth + b"0" + b"]" * depth)
    return Raw(b'{"a":' * depth + b"0" + b"}" * depth)


NOT_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"]
"""Byte sequences that are not UTF-8 (stray continuation, overlong, surrogate, 5-byte)."""


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)

json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

long_strings = st.builds(
    lambda n, ch: ch * n,
    st.sampled_from([65, 101, 201, 1001, 2001, 4097, 16_385, 40_000, 70_000]),
    st.sampled_from(["x", "é", "한", "\U0001f600", "\x00"]),
)

hostile = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(HUGE_INTS),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=40),
    long_strings,
    st.lists(json_scalars, max_size=5),
    st.dictionaries(st.text(max_size=6), json_scalars, max_size=4),
    st.builds(nested, st.integers(1, 200), kind=st.sampled_from(["list", "dict"])),
    st.builds(
        nested, st.sampled_from([1000, 5000, 20_000]), kind=st.sampled_from(["list", "dict"])
    ),
    st.builds(lambda bad: Raw(b'"a' + bad + b'z"'), st.sampled_from(NOT_UTF8)),
)
"""What a field should never receive: wrong types, huge numbers, odd text, deep nesting."""


# ---------------------------------------------------------------- values that fit a schema


def _bounded_text(min_length: int, max_length: int | None) -> st.SearchStrategy[str]:
    top = max_length if max_length is not None else 300
    sizes = sorted({min_length, max(min_length, 1), top, max(min_length, top - 1)})
    edge = st.builds(
        lambda n, ch: ch * n,
        st.sampled_from(sizes),
        st.sampled_from(["a", "é", "한", "\U0001f600"]),
    )
    return st.one_of(
        st.text(min_size=min_length, max_size=min(top, 60)),
        edge,
        st.sampled_from([s for s in ODD_STRINGS if min_length <= len(s) <= top] or ["a"]),
    )


def _pattern_text(pattern: str, min_length: int, max_length: int | None) -> st.SearchStrategy[str]:
    top = max_length if max_length is not None else 64
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: min_length <= len(s) <= top)


def schema_value(
    info: Any, *, placeholders: dict[str, Any] | None = None
) -> st.SearchStrategy[Any]:
    """Values that the codec accepts for ``info`` (a ``msgspec.inspect`` type)."""
    ph = placeholders or {}
    if isinstance(info, mi.StrType):
        lo = info.min_length or 0
        if info.pattern:
            return _pattern_text(info.pattern, lo, info.max_length)
        return _bounded_text(lo, info.max_length)
    if isinstance(info, mi.BoolType):
        return st.booleans()
    if isinstance(info, mi.IntType):
        ilo = info.ge if info.ge is not None else (info.gt + 1 if info.gt is not None else None)
        ihi = info.le if info.le is not None else (info.lt - 1 if info.lt is not None else None)
        edges = [v for v in (ilo, ihi, 0, 1, 2**31, 2**53, 2**63 - 1) if v is not None]
        edges = [v for v in edges if (ilo is None or v >= ilo) and (ihi is None or v <= ihi)]
        return st.integers(min_value=ilo, max_value=ihi) | st.sampled_from(edges or [0])
    if isinstance(info, mi.FloatType):
        flo = info.ge if info.ge is not None else info.gt
        fhi = info.le if info.le is not None else info.lt
        return st.floats(
            min_value=flo,
            max_value=fhi,
            allow_nan=False,
            allow_infinity=False,
            exclude_min=info.gt is not None,
            exclude_max=info.lt is not None,
        )
    if isinstance(info, mi.LiteralType):
        return st.sampled_from(list(info.values))
    if isinstance(info, mi.EnumType):
        return st.sampled_from([m.value for m in info.cls])
    if isinstance(info, mi.NoneType):
        return st.none()
    if isinstance(info, mi.UnionType):
        return st.one_of([schema_value(t, placeholders=ph) for t in info.types])
    if isinstance(info, mi.ListType):
        top = info.max_length if info.max_length is not None else 5
        return st.lists(schema_value(info.item_type, placeholders=ph), max_size=min(top, 6))
    if isinstance(info, mi.DictType):
        top = info.max_length if info.max_length is not None else 5
        keys = schema_value(info.key_type, placeholders=ph)
        if isinstance(info.key_type, mi.StrType) and info.key_type.pattern and "session" in ph:
            keys = keys | st.just(ph["session"])
        return st.dictionaries(
            keys, schema_value(info.value_type, placeholders=ph), max_size=min(top, 4)
        )
    if isinstance(info, mi.StructType):
        return struct_value(info, placeholders=ph)
    if isinstance(info, mi.AnyType):
        return json_values
    raise TypeError(f"no strategy for {info!r}")


def struct_value(
    info: mi.StructType, *, placeholders: dict[str, Any] | None = None
) -> st.SearchStrategy[dict[str, Any]]:
    """A dict that decodes as the struct: required fields always, optional ones maybe.

    A field named in ``placeholders`` (e.g. ``session``) mostly gets the live value.
    """
    ph = placeholders or {}
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for f in info.fields:
        strat = schema_value(f.type, placeholders=ph)
        if f.name in ph:
            strat = st.one_of(st.just(ph[f.name]), st.just(ph[f.name]), strat)
        (required if f.required else optional)[f.encode_name] = strat
    body = st.fixed_dictionaries(required, optional=optional)
    if info.tag_field is not None:
        tag_field, tag = info.tag_field, info.tag
        return body.map(lambda d: {tag_field: tag, **d})
    return body


def type_info(cls: type[msgspec.Struct]) -> mi.StructType:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    return info


def field_names(cls: type[msgspec.Struct]) -> list[str]:
    return [f.encode_name for f in type_info(cls).fields]


def dumps(value: Any) -> bytes:
    """JSON as the fuzzer sends it: UTF-8 (lone surrogates kept: they make invalid bytes),
    NaN and infinities as their non-JSON tokens, ``Raw`` values spliced in."""
    raws: list[bytes] = []

    def mark(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.data)
            return f"\ue000raw{len(raws) - 1}\ue000"
        if isinstance(v, dict):
            return {k if isinstance(k, str) else str(k): mark(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [mark(x) for x in v]
        return v

    text = json.dumps(mark(value), ensure_ascii=False, allow_nan=True)
    out = text.encode("utf-8", "surrogatepass")
    for i, data in enumerate(raws):
        out = out.replace(f'"\ue000raw{i}\ue000"'.encode(), data, 1)
    return out
