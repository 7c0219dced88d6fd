"""Staff passwords and cookies, participant tokens and customer tokens."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from signaling import auth
from signaling.auth import (
    CustomerClaims,
    Participant,
    StaffRole,
    hash_password,
    mint_customer,
    mint_participant,
    read_customer,
    read_participant,
    sign_cookie,
    unsign_cookie,
    verify_password,
)
from signaling.errors import AuthError

NOW = 1_700_000_000.0
SERVER_SECRET = b"server-secret-" + b"x" * 32
CUSTOMER_SECRET = "shared-with-the-company-backend-" + "y" * 32  # long enough for HS512 too


def refusal(fn, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(AuthError) as err:
        fn(*args, **kwargs)
    return err.value.code, err.value.message


# ---------------------------------------------------------------- passwords


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_password("correct horse")


def test_password_hash_is_salted_scrypt(stored: str):
    algo, n, r, p, salt, digest = stored.split("$")
    assert (algo, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16
    assert len(base64.b64decode(digest)) == 32
    assert "correct horse" not in stored


def test_right_password_verifies(stored: str):
    assert verify_password("correct horse", stored) is True


@pytest.mark.parametrize("attempt", ["Correct horse", ""])
def test_wrong_password_does_not_verify(stored: str, attempt: str):
    assert verify_password(attempt, stored) is False


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "garbage",
        "md5$16384$8$1$AAAA$AAAA",
        "scrypt$many$8$1$AAAA$AAAA",
        "scrypt$16384$8$1$not base64!$AAAA",
        "scrypt$16384$8$1$AAAA",
        "scrypt$16384$8$1$AAAA$AAAA$extra",
        "scrypt$3$8$1$AAAA$AAAA",  # N must be a power of two
    ],
)
def test_malformed_hash_never_verifies(encoded: str):
    assert verify_password("correct horse", encoded) is False


def test_overlong_password_never_verifies(stored: str):
    assert verify_password("x" * 1025, stored) is False


@pytest.mark.parametrize("password", ["", "x" * 1025], ids=["empty", "overlong"])
def test_hashing_refuses_empty_and_overlong_passwords(password: str):
    assert refusal(hash_password, password) == ("bad_message", "a password is 1 to 1024 characters")


def test_staff_roles_have_distinct_permissions():
    assert auth.PERMISSIONS[StaffRole.AGENT] == {"console", "serve"}
    assert "supervise" in auth.PERMISSIONS[StaffRole.SUPERVISOR]
    assert auth.PERMISSIONS[StaffRole.QA] == {"review", "recordings"}
    assert "serve" not in auth.PERMISSIONS[StaffRole.ADMIN]
    assert "recordings" not in auth.PERMISSIONS[StaffRole.AGENT]
    for role in (StaffRole.SUPERVISOR, StaffRole.QA, StaffRole.ADMIN):
        assert "recordings" in auth.PERMISSIONS[role]


# ---------------------------------------------------------------- staff cookie


def test_cookie_round_trip():
    login_id = auth.new_login_id()
    assert unsign_cookie(sign_cookie(login_id, SERVER_SECRET), SERVER_SECRET) == login_id


def test_login_ids_are_random():
    assert len({auth.new_login_id() for _ in range(20)}) == 20


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: v[:-1] + ("0" if v[-1] != "0" else "1"),  # signature changed
        lambda v: "x" + v,  # login id changed
        lambda v: v.rpartition(".")[0] + ".",  # signature removed
    ],
    ids=["signature", "login-id", "no-signature"],
)
def test_tampered_cookie_is_refused(tamper):
    value = sign_cookie("login-123", SERVER_SECRET)
    assert refusal(unsign_cookie, tamper(value), SERVER_SECRET) == (
        "unauthorized",
        "session cookie signature is invalid",
    )


def test_cookie_signed_with_another_secret_is_refused():
    value = sign_cookie("login-123", b"another-secret")
    assert refusal(unsign_cookie, value, SERVER_SECRET) == (
        "unauthorized",
        "session cookie signature is invalid",
    )


@pytest.mark.parametrize(
    "value", ["", "no-dot-at-all", ".abcdef", "a" * 190 + "." + "b" * 32], ids=str.__len__
)
def test_malformed_cookie_is_refused(value: str):
    assert refusal(unsign_cookie, value, SERVER_SECRET) == (
        "unauthorized",
        "malformed session cookie",
    )


def test_cookie_with_a_non_ascii_signature_is_refused():
    assert refusal(unsign_cookie, "login-123.é", SERVER_SECRET)[0] == "unauthorized"


# ---------------------------------------------------------------- participant token

DANA = Participant(session="s1", customer_id="cust-1", name="Dana", tier="premium")


def test_participant_token_round_trip():
    token = mint_participant(DANA, SERVER_SECRET, ttl_s=3600, now=NOW)
    assert read_participant(token, SERVER_SECRET, now=NOW + 10) == DANA


def test_participant_token_round_trip_on_the_real_clock():
    token = mint_participant(DANA, SERVER_SECRET, ttl_s=60)
    assert read_participant(token, SERVER_SECRET) == DANA


def test_participant_token_claims():
    token = mint_participant(DANA, SERVER_SECRET, ttl_s=3600, now=NOW)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims == {
        "iss": "livedesk",
        "aud": "livedesk:participant",
        "sub": "cust-1",
        "sid": "s1",
        "name": "Dana",
        "tier": "premium",
        "role": "customer",
        "iat": int(NOW),
        "exp": int(NOW + 3600),
    }


@pytest.mark.parametrize("later", [3600, 3601, 10**6])
def test_participant_token_expires(later: float):
    token = mint_participant(DANA, SERVER_SECRET, ttl_s=3600, now=NOW)
    assert refusal(read_participant, token, SERVER_SECRET, now=NOW + later) == (
        "unauthorized",
        "participant token has expired",
    )


def test_participant_token_with_the_wrong_secret_is_refused():
    token = mint_participant(DANA, b"another-server-secret-" + b"z" * 32, ttl_s=3600, now=NOW)
    assert refusal(read_participant, token, SERVER_SECRET, now=NOW) == (
        "unauthorized",
        "participant token signature is invalid",
    )


def test_customer_token_is_not_a_participant_token():
    token = mint_customer("cust-1", "premium", SERVER_SECRET.decode(), now=NOW)
    assert refusal(read_participant, token, SERVER_SECRET, now=NOW)[0] == "unauthorized"


@pytest.mark.parametrize("token", ["", "x" * 4097], ids=["empty", "too-long"])
def test_missing_or_huge_participant_token_is_refused(token: str):
    assert refusal(read_participant, token, SERVER_SECRET, now=NOW) == (
        "unauthorized",
        "participant token is missing or too long",
    )


def test_garbage_participant_token_is_malformed():
    assert refusal(read_participant, "not.a.jwt", SERVER_SECRET, now=NOW) == (
        "unauthorized",
        "participant token is malformed",
    )


# ---------------------------------------------------------------- customer token


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def customer_token(claims: dict, secret: str = CUSTOMER_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def test_customer_token_round_trip():
    token = mint_customer("cust-9", "premium", CUSTOMER_SECRET, name="Dana", now=NOW)
    assert read_customer(token, CUSTOMER_SECRET, now=NOW + 1) == CustomerClaims(
        sub="cust-9", name="Dana", tier="premium"
    )


def test_customer_token_round_trip_on_the_real_clock():
    token = mint_customer("cust-9", "premium", CUSTOMER_SECRET)
    assert read_customer(token, CUSTOMER_SECRET).sub == "cust-9"


def test_customer_token_with_the_configured_issuer_is_accepted():
    token = mint_customer("cust-9", "gold", CUSTOMER_SECRET, issuer="shop", now=NOW)
    assert read_customer(token, CUSTOMER_SECRET, issuer="shop", now=NOW).tier == "gold"


def test_customer_name_is_cut_to_100_characters():
    token = customer_token({"sub": "c", "tier": "t", "name": "n" * 300, "exp": NOW + 60})
    assert read_customer(token, CUSTOMER_SECRET, now=NOW).name == "n" * 100


def test_customer_token_signed_with_the_configured_stronger_algorithm_is_accepted():
    token = mint_customer("c", "t", CUSTOMER_SECRET, algorithm="HS512", now=NOW)
    assert read_customer(token, CUSTOMER_SECRET, algorithm="HS512", now=NOW).sub == "c"


CUSTOMER_REFUSALS = [
    pytest.param(
        lambda: mint_customer("c", "t", CUSTOMER_SECRET, ttl_s=900, now=NOW - 900),
        {},
        "customer token has expired",
        id="expired-at-exp",
    ),
    pytest.param(
        lambda: mint_customer("c", "t", CUSTOMER_SECRET, ttl_s=900, now=NOW - 3600),
        {},
        "customer token has expired",
        id="expired",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c", "tier": "t", "exp": NOW + 600, "nbf": NOW + 60}),
        {},
        "customer token is not valid yet",
        id="nbf-in-the-future",
    ),
    pytest.param(
        lambda: mint_customer("c", "t", "another-backend-secret-" + "w" * 32, now=NOW),
        {},
        "customer token signature is invalid",
        id="wrong-secret",
    ),
    pytest.param(
        lambda: mint_customer("c", "t", CUSTOMER_SECRET, issuer="evil", now=NOW),
        {"issuer": "shop"},
        "customer token has the wrong issuer",
        id="wrong-issuer",
    ),
    pytest.param(
        lambda: (
            b64url({"alg": "none", "typ": "JWT"})
            + "."
            + b64url({"sub": "c", "tier": "premium", "exp": NOW + 600})
            + "."
        ),
        {},
        "customer token uses an algorithm that is not allowed",
        id="alg-none",
    ),
    pytest.param(
        lambda: mint_customer("c", "t", CUSTOMER_SECRET, algorithm="HS512", now=NOW),
        {"algorithm": "HS256"},
        "customer token uses an algorithm that is not allowed",
        id="hs512-when-hs256-configured",
    ),
    pytest.param(
        lambda: customer_token({"tier": "t", "exp": NOW + 60}),
        {},
        "customer token needs a string sub of 1-128 chars",
        id="no-sub",
    ),
    pytest.param(
        lambda: customer_token({"sub": "", "tier": "t", "exp": NOW + 60}),
        {},
        "customer token needs a string sub of 1-128 chars",
        id="empty-sub",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c" * 129, "tier": "t", "exp": NOW + 60}),
        {},
        "customer token needs a string sub of 1-128 chars",
        id="long-sub",
    ),
    pytest.param(
        lambda: customer_token({"sub": 42, "tier": "t", "exp": NOW + 60}),
        {},
        "customer token is malformed",  # PyJWT itself insists that sub is a string
        id="numeric-sub",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c", "exp": NOW + 60}),
        {},
        "customer token needs a string tier",
        id="no-tier",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c", "tier": ["premium"], "exp": NOW + 60}),
        {},
        "customer token needs a string tier",
        id="list-tier",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c", "tier": "t", "name": 7, "exp": NOW + 60}),
        {},
        "customer token name must be a string",
        id="numeric-name",
    ),
    pytest.param(
        lambda: customer_token({"sub": "c", "tier": "t"}),
        {},
        "customer token is malformed",
        id="no-exp",
    ),
    pytest.param(lambda: "not-a-jwt", {}, "customer token is malformed", id="garbage"),
    pytest.param(lambda: "", {}, "customer token is missing or too long", id="empty"),
]


@pytest.mark.parametrize(("make", "options", "message"), CUSTOMER_REFUSALS)
def test_bad_customer_token_is_refused_saying_why(make, options: dict, message: str):
    assert refusal(read_customer, make(), CUSTOMER_SECRET, now=NOW, **options) == (
        "unauthorized",
        message,
    )


def test_customer_token_without_an_issuer_is_refused_when_one_is_configured():
    token = mint_customer("c", "t", CUSTOMER_SECRET, now=NOW)
    assert refusal(read_customer, token, CUSTOMER_SECRET, issuer="shop", now=NOW)[0] == (
        "unauthorized"
    )


def test_customer_tokens_are_refused_when_no_secret_is_configured():
    token = mint_customer("c", "t", CUSTOMER_SECRET, now=NOW)
    assert refusal(read_customer, token, "", now=NOW) == (
        "unauthorized",
        "customer tokens are not enabled on this server",
    )


def test_expired_customer_token_is_refused_on_the_real_clock():
    token = customer_token({"sub": "c", "tier": "t", "exp": int(time.time()) - 5})
    assert refusal(read_customer, token, CUSTOMER_SECRET) == (
        "unauthorized",
        "customer token has expired",
    )


def test_future_customer_token_is_refused_on_the_real_clock():
    soon = int(time.time()) + 600
    token = customer_token({"sub": "c", "tier": "t", "exp": soon + 600, "nbf": soon})
    assert refusal(read_customer, token, CUSTOMER_SECRET) == (
        "unauthorized",
        "customer token is not valid yet",
    )
