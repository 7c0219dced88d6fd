"""Signed personal links: one customer, one entry, one use, with key rotation.

A personal link lets a named customer in through an entry without a company
backend token, for example the link an agent texts during a phone call to
continue that call's case in the browser. The token rides in the link's URL.

Token format (version 1), three URL-safe segments joined by dots::

    <kid>.<base64url(payload)>.<base64url(mac)>

- ``kid`` names the key that signed it: 1-32 characters of ``[A-Za-z0-9_-]``.
- ``payload`` is compact JSON: ``entry``, ``sub`` (customer id), ``tier``,
  optional ``name`` and ``case`` (a session id the link continues), ``iat`` and
  ``exp`` (whole Unix seconds) and ``jti`` (a random 128-bit one-time nonce,
  22 base64url characters).
- ``mac`` is HMAC-SHA256 with the kid's secret over
  ``b"livedesk.link.v1." + kid + "." + payload-segment``. The fixed prefix keeps
  a link MAC from ever being mistaken for another use of the same secret.
- base64url is unpadded (RFC 4648 section 5 without ``=``).

The MAC is checked (in constant time, on the text of the segment) before the
payload is parsed, so any change to a signed token is ``tampered``; a token
that cannot even be split or decoded is ``malformed``. Both show the customer
the same message. A token is refused from the second ``exp`` on (no leeway).

``mint`` and ``verify`` are pure: the clock is an argument. ``redeem`` claims
the nonce in the live store with an atomic set-if-new, which is what makes a
link single-use across every process sharing one Redis.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, ClassVar

import msgspec

from signaling.errors import ConfigError, LivedeskError

if TYPE_CHECKING:
    from signaling.store.base import Store

MAX_TOKEN = 2048
"""Longer tokens are refused as malformed before any work is done."""

USED_KEY = "link-used:{jti}"
"""Live-store key that marks a link's nonce as spent."""

USED_GRACE_S = 60
"""How long past ``exp`` the spent mark outlives the link (clock skew between nodes)."""

MIN_SECRET = 32
"""Shortest accepted secret, in characters; use e.g. ``secrets.token_urlsafe(32)``."""

_MAC_DOMAIN = b"livedesk.link.v1."
_KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_B64_RE = re.compile(r"^[A-Za-z0-9_-]+$")

_Kid = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
_Entry = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
_Sub = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Tier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_Name = Annotated[str, msgspec.Meta(max_length=100)]
_Case = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_Time = Annotated[int, msgspec.Meta(ge=0, le=2**40)]
_Jti = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{22}$")]


class LinkError(LivedeskError):
    """A personal link was refused. ``reason`` is stable; the message never says why."""

    REASONS: ClassVar[dict[str, tuple[str, int, str]]] = {
        # reason: (wire code, HTTP status, message shown to the customer)
        "expired": ("unauthorized", 410, "this link has expired"),
        "used": ("unauthorized", 410, "this link was already used"),
        "tampered": ("forbidden", 403, "this link is not valid"),
        "malformed": ("forbidden", 403, "this link is not valid"),
    }

    def __init__(self, reason: str) -> None:
        if reason not in self.REASONS:  # programming error, never user input
            raise ValueError(f"unknown link refusal reason {reason!r}")
        code, _, message = self.REASONS[reason]
        super().__init__(code, message)
        self.reason = reason

    @property
    def http_status(self) -> int:
        """410 Gone for expired and used links, 403 Forbidden for invalid ones."""
        return self.REASONS[self.reason][1]

    def __repr__(self) -> str:
        return f"LinkError({self.reason!r})"


class LinkClaims(msgspec.Struct, frozen=True):
    """What a verified link says. ``kid`` is the key that signed it."""

    entry: str
    sub: str
    tier: str
    name: str
    case: str | None
    iat: int
    exp: int
    jti: str
    kid: str


class _Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The signed JSON; every field is checked for type and shape on the way in."""

    entry: _Entry
    sub: _Sub
    tier: _Tier
    iat: _Time
    exp: _Time
    jti: _Jti
    name: _Name = ""
    case: _Case | None = None


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Payload).decode


class LinkKeys:
    """The signing keys: ``current`` signs, ``current`` and ``previous`` verify.

    Each key is a ``(kid, secret)`` pair. To rotate, make a new key current and
    move the old one to ``previous`` (``keys.rotate(new)``) until every link it
    signed has expired; then drop it. Secrets never appear in ``repr``.
    """

    __slots__ = ("_secrets", "current_kid")

    def __init__(
        self, current: tuple[str, str], previous: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self._secrets: dict[str, bytes] = {}
        for kid, secret in (current, *previous):
            if not isinstance(kid, str) or not _KID_RE.match(kid):
                raise ConfigError("links.keys.kid", kid, "1-32 characters of A-Z a-z 0-9 _ -")
            if kid in self._secrets:
                raise ConfigError("links.keys.kid", kid, "each kid may appear only once")
            if not isinstance(secret, str) or len(secret) < MIN_SECRET:
                # the value shown is the kid: a secret must never reach a log
                raise ConfigError(
                    "links.keys.secret", kid, f"the secret needs at least {MIN_SECRET} characters"
                )
            self._secrets[kid] = secret.encode()
        self.current_kid: str = current[0]

    @classmethod
    def from_config(cls, keys: Iterable[Mapping[str, str]]) -> LinkKeys:
        """From ``[{kid, secret}, ...]`` as in ``[[links.keys]]``; the first one is current."""
        pairs = tuple((k.get("kid", ""), k.get("secret", "")) for k in keys)
        if not pairs:
            raise ConfigError("links.keys", [], "at least one key is needed")
        return cls(pairs[0], pairs[1:])

    @property
    def kids(self) -> tuple[str, ...]:
        """Every kid that verifies, the current one first."""
        return tuple(self._secrets)

    def rotate(self, new: tuple[str, str], *, keep: int | None = None) -> LinkKeys:
        """``new`` becomes current; the old keys verify on (at most ``keep`` of them)."""
        old = tuple((kid, s.decode()) for kid, s in self._secrets.items())
        return LinkKeys(new, old if keep is None else old[:keep])

    def secret(self, kid: str) -> bytes | None:
        return self._secrets.get(kid)

    def __repr__(self) -> str:
        return f"LinkKeys(current={self.current_kid!r}, kids={self.kids!r})"


# ------------------------------------------------------------------ mint and verify


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64_RE.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, kid: str, body: str) -> str:
    signed = _MAC_DOMAIN + kid.encode() + b"." + body.encode()
    return _b64(hmac.new(secret, signed, hashlib.sha256).digest())


def _seal(kid: str, secret: bytes, payload: bytes) -> str:
    """Sign raw payload bytes. ``mint`` uses it; tests use it to forge odd payloads."""
    body = _b64(payload)
    return f"{kid}.{body}.{_mac(secret, kid, body)}"


def issue(
    keys: LinkKeys,
    *,
    entry: str,
    sub: str,
    tier: str,
    name: str = "",
    case: str | None = None,
    ttl_s: float,
    now: float,
) -> tuple[str, LinkClaims]:
    """A new link token and the claims it carries (for the audit log).

    ValueError when an argument would make a token ``verify`` refuses: a bad
    entry id or case id, an empty or over-long sub or tier, a ttl under 1 s.
    Names over 100 characters are cut, as customer tokens' names are.
    """
    if not ttl_s >= 1:
        raise ValueError("a link needs ttl_s of at least 1 second")
    iat = int(now)
    payload = _Payload(
        entry=entry,
        sub=sub,
        tier=tier,
        iat=iat,
        exp=int(now + ttl_s),
        jti=secrets.token_urlsafe(16),
        name=name[:100],
        case=case,
    )
    raw = _encode(payload)
    try:  # the same checks verify makes, so a minted token always verifies
        msgspec.json.decode(raw, type=_Payload)
    except msgspec.ValidationError as exc:
        raise ValueError(f"cannot mint this link: {exc}") from None
    kid = keys.current_kid
    secret = keys.secret(kid)
    assert secret is not None
    return _seal(kid, secret, raw), _claims(payload, kid)


def mint(
    keys: LinkKeys,
    *,
    entry: str,
    sub: str,
    tier: str,
    name: str = "",
    case: str | None = None,
    ttl_s: float,
    now: float,
) -> str:
    """A new link token signed with the current key (see ``issue``)."""
    token, _ = issue(
        keys, entry=entry, sub=sub, tier=tier, name=name, case=case, ttl_s=ttl_s, now=now
    )
    return token


def verify(keys: LinkKeys, token: str, *, now: float) -> LinkClaims:
    """The claims of a genuine, unexpired token; LinkError otherwise.

    It does not know whether the link was used already: that is ``redeem``.
    """
    if not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN:
        raise LinkError("malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise LinkError("malformed")
    kid, body, mac = parts
    if not _KID_RE.match(kid) or not _B64_RE.match(body) or not _B64_RE.match(mac):
        raise LinkError("malformed")
    secret = keys.secret(kid)
    if secret is None:  # a key we never had, or one dropped after rotation
        raise LinkError("tampered")
    if not hmac.compare_digest(_mac(secret, kid, body).encode(), mac.encode()):
        raise LinkError("tampered")
    try:
        payload = _decode(_unb64(body))
    except (ValueError, binascii.Error, msgspec.DecodeError):
        # msgspec.ValidationError is a DecodeError: wrong types and shapes land here
        raise LinkError("malformed") from None
    if payload.exp <= now:
        raise LinkError("expired")
    return _claims(payload, kid)


def _claims(p: _Payload, kid: str) -> LinkClaims:
    return LinkClaims(
        entry=p.entry,
        sub=p.sub,
        tier=p.tier,
        name=p.name,
        case=p.case,
        iat=p.iat,
        exp=p.exp,
        jti=p.jti,
        kid=kid,
    )


async def redeem(store: Store, keys: LinkKeys, token: str, *, now: float) -> LinkClaims:
    """Verify and spend a link: exactly one redemption of a token ever succeeds.

    The nonce is claimed with an atomic set-if-new, kept a minute past ``exp``
    (after which ``verify`` refuses the token anyway). A store failure raises
    StoreError and the link stays unspent: it fails closed.
    """
    claims = verify(keys, token, now=now)
    ttl_s = max(1.0, claims.exp - now + USED_GRACE_S)
    fresh = await store.kv_set(USED_KEY.format(jti=claims.jti), b"1", ttl_s, only_if_new=True)
    if not fresh:
        raise LinkError("used")
    return claims
