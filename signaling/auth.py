"""Identity: staff passwords, staff login cookies, participant and customer tokens.

- Staff (agent, supervisor, qa, admin) passwords are hashed with scrypt, a
  memory-hard hash from the standard library.
- A staff login is a random id kept in the live store with a TTL; the cookie
  carries that id and an HMAC of it, so logout (deleting the id) really ends it.
- A customer's access to one session is a participant token: a JWT signed with
  the server secret, naming the session, the customer id and the role.
- A company backend vouches for a customer (id, name, tier) with a customer token:
  a JWT signed with the shared ``customer_tokens.secret``. Tier comes only from
  there; anonymous customers get the configured default tier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from enum import StrEnum
from typing import Any

import jwt
import msgspec

from signaling.errors import AuthError

# scrypt cost: 2**14 * 8 * 128 bytes = 16 MiB of memory per hash.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MAX_PASSWORD = 1024


class StaffRole(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    QA = "qa"
    ADMIN = "admin"


# what each staff role may do; handlers check these names, never the role string
PERMISSIONS: dict[StaffRole, frozenset[str]] = {
    StaffRole.AGENT: frozenset({"console", "serve"}),
    StaffRole.SUPERVISOR: frozenset({"console", "serve", "supervise", "recordings"}),
    StaffRole.QA: frozenset({"review", "recordings"}),
    StaffRole.ADMIN: frozenset({"console", "supervise", "review", "recordings", "admin"}),
}


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` with base64 fields."""
    if not password or len(password) > _MAX_PASSWORD:
        raise AuthError("bad_message", f"a password is 1 to {_MAX_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32
    )
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Constant-time check of ``password`` against ``hash_password`` output."""
    if len(password) > _MAX_PASSWORD:
        return False
    try:
        algo, n, r, p, salt, digest = encoded.split("$")
        if algo != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(want),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# --------------------------------------------------------------- staff cookie


class StaffLogin(msgspec.Struct, frozen=True):
    """What the live store keeps for one staff login."""

    username: str
    role: StaffRole
    name: str
    created_at: float


def new_login_id() -> str:
    return secrets.token_urlsafe(24)


def sign_cookie(login_id: str, secret: bytes) -> str:
    mac = hmac.new(secret, login_id.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{login_id}.{mac}"


def unsign_cookie(value: str, secret: bytes) -> str:
    """The login id inside a cookie value; AuthError when it was tampered with."""
    login_id, _, mac = value.rpartition(".")
    if not login_id or len(value) > 200:
        raise AuthError("unauthorized", "malformed session cookie")
    want = hmac.new(secret, login_id.encode(), hashlib.sha256).hexdigest()[:32]
    if not hmac.compare_digest(mac.encode(), want.encode()):
        raise AuthError("unauthorized", "session cookie signature is invalid")
    return login_id


# --------------------------------------------------------------- participant token

PARTICIPANT_AUDIENCE = "livedesk:participant"
PARTICIPANT_ISSUER = "livedesk"


class Participant(msgspec.Struct, frozen=True):
    """A customer's right to take part in one session."""

    session: str
    customer_id: str
    name: str
    tier: str


def mint_participant(
    p: Participant, secret: bytes, *, ttl_s: float, now: float | None = None
) -> str:
    t = time.time() if now is None else now
    claims = {
        "iss": PARTICIPANT_ISSUER,
        "aud": PARTICIPANT_AUDIENCE,
        "sub": p.customer_id,
        "sid": p.session,
        "name": p.name,
        "tier": p.tier,
        "role": "customer",
        "iat": int(t),
        "exp": int(t + ttl_s),
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def read_participant(token: str, secret: bytes, *, now: float | None = None) -> Participant:
    claims = _decode(
        token,
        secret,
        algorithm="HS256",
        audience=PARTICIPANT_AUDIENCE,
        issuer=PARTICIPANT_ISSUER,
        now=now,
        what="participant token",
    )
    try:
        return Participant(
            session=str(claims["sid"]),
            customer_id=str(claims["sub"]),
            name=str(claims.get("name", "")),
            tier=str(claims["tier"]),
        )
    except KeyError as exc:
        raise AuthError("unauthorized", f"participant token lacks {exc.args[0]}") from None


# --------------------------------------------------------------- customer token


class CustomerClaims(msgspec.Struct, frozen=True):
    """Who a company backend says this customer is."""

    sub: str
    name: str = ""
    tier: str = "standard"


def mint_customer(
    sub: str,
    tier: str,
    secret: str,
    *,
    name: str = "",
    ttl_s: float = 900.0,
    issuer: str = "",
    algorithm: str = "HS256",
    now: float | None = None,
) -> str:
    """What a company backend does; ``livedesk token customer`` calls this."""
    t = time.time() if now is None else now
    claims: dict[str, Any] = {"sub": sub, "tier": tier, "iat": int(t), "exp": int(t + ttl_s)}
    if name:
        claims["name"] = name
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm=algorithm)


def read_customer(
    token: str,
    secret: str,
    *,
    algorithm: str = "HS256",
    issuer: str = "",
    now: float | None = None,
) -> CustomerClaims:
    if not secret:
        raise AuthError("unauthorized", "customer tokens are not enabled on this server")
    claims = _decode(
        token,
        secret.encode(),
        algorithm=algorithm,
        audience=None,
        issuer=issuer or None,
        now=now,
        what="customer token",
    )
    sub, tier, name = claims.get("sub"), claims.get("tier"), claims.get("name", "")
    if not isinstance(sub, str) or not 0 < len(sub) <= 128:
        raise AuthError("unauthorized", "customer token needs a string sub of 1-128 chars")
    if not isinstance(tier, str) or not 0 < len(tier) <= 64:
        raise AuthError("unauthorized", "customer token needs a string tier")
    if not isinstance(name, str):
        raise AuthError("unauthorized", "customer token name must be a string")
    return CustomerClaims(sub=sub, tier=tier, name=name[:100])


def _decode(
    token: str,
    secret: bytes,
    *,
    algorithm: str,
    audience: str | None,
    issuer: str | None,
    now: float | None,
    what: str,
) -> dict[str, Any]:
    if not token or len(token) > 4096:
        raise AuthError("unauthorized", f"{what} is missing or too long")
    options: Any = {"require": ["exp"], "verify_aud": audience is not None}
    try:
        if now is not None:
            # PyJWT reads the clock itself; check times against ours instead
            claims = jwt.decode(
                token,
                secret,
                algorithms=[algorithm],
                audience=audience,
                issuer=issuer,
                options={**options, "verify_exp": False, "verify_nbf": False, "verify_iat": False},
            )
            if float(claims["exp"]) <= now:
                raise jwt.ExpiredSignatureError("expired")
            if "nbf" in claims and float(claims["nbf"]) > now:
                raise jwt.ImmatureSignatureError("not yet valid")
            return claims
        return jwt.decode(
            token,
            secret,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options=options,
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("unauthorized", f"{what} has expired") from None
    except jwt.ImmatureSignatureError:
        raise AuthError("unauthorized", f"{what} is not valid yet") from None
    except jwt.InvalidIssuerError:
        raise AuthError("unauthorized", f"{what} has the wrong issuer") from None
    except jwt.InvalidAudienceError:
        raise AuthError("unauthorized", f"{what} has the wrong audience") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError("unauthorized", f"{what} uses an algorithm that is not allowed") from None
    except jwt.InvalidSignatureError:
        raise AuthError("unauthorized", f"{what} signature is invalid") from None
    except (jwt.InvalidTokenError, ValueError, TypeError, KeyError):
        raise AuthError("unauthorized", f"{what} is malformed") from None


# --------------------------------------------------------------- grant

GRANT_AUDIENCE = "livedesk:grant"


def mint_grant(claims: CustomerClaims, secret: bytes, *, entry: str, ttl_s: float = 3600.0) -> str:
    """What a redeemed personal link leaves in the page: the right to start one session."""
    t = time.time()
    return jwt.encode(
        {
            "iss": PARTICIPANT_ISSUER,
            "aud": GRANT_AUDIENCE,
            "sub": claims.sub,
            "tier": claims.tier,
            "name": claims.name,
            "entry": entry,
            "iat": int(t),
            "exp": int(t + ttl_s),
        },
        secret,
        algorithm="HS256",
    )


def read_grant(token: str, secret: bytes) -> tuple[CustomerClaims, str]:
    """The customer and entry a grant vouches for; AuthError otherwise."""
    claims = _decode(
        token,
        secret,
        algorithm="HS256",
        audience=GRANT_AUDIENCE,
        issuer=PARTICIPANT_ISSUER,
        now=None,
        what="link grant",
    )
    try:
        return (
            CustomerClaims(
                sub=str(claims["sub"]), tier=str(claims["tier"]), name=str(claims.get("name", ""))
            ),
            str(claims["entry"]),
        )
    except KeyError as exc:
        raise AuthError("unauthorized", f"link grant lacks {exc.args[0]}") from None
