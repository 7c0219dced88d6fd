"""Personal links: format, expiry, tampering, key rotation and strict claims."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from signaling.errors import ConfigError, LivedeskError
from signaling.links import (
    MAX_TOKEN,
    LinkClaims,
    LinkError,
    LinkKeys,
    _seal,
    issue,
    mint,
    verify,
)

NOW = 1_700_000_000.0
K1 = ("k1", "first-link-secret-" + "a" * 32)
K2 = ("k2", "second-link-secret-" + "b" * 32)
K3 = ("k3", "third-link-secret-" + "c" * 32)
KEYS = LinkKeys(K1)
INVALID = "this link is not valid"


def refusal(keys: LinkKeys, token: Any, now: float = NOW) -> LinkError:
    with pytest.raises(LinkError) as err:
        verify(keys, token, now=now)
    return err.value


def reason(keys: LinkKeys, token: Any, now: float = NOW) -> str:
    return refusal(keys, token, now).reason


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def good_payload(**changes: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "entry": "support",
        "sub": "cust-42",
        "tier": "gold",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
        "jti": "A" * 22,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not ...}


def forged(payload: dict[str, Any], key: tuple[str, str] = K1) -> str:
    """A token signed with a real key over any payload: only the claim checks can refuse it."""
    return _seal(key[0], key[1].encode(), json.dumps(payload).encode())


# ---------------------------------------------------------------- round trip


def test_round_trip_carries_every_claim() -> None:
    token = mint(
        KEYS,
        entry="support",
        sub="cust-42",
        tier="gold",
        name="Jane Doe",
        case="s_abcDEF123xyz",
        ttl_s=600,
        now=NOW,
    )
    claims = verify(KEYS, token, now=NOW + 599)
    assert claims.entry == "support"
    assert claims.sub == "cust-42"
    assert claims.tier == "gold"
    assert claims.name == "Jane Doe"
    assert claims.case == "s_abcDEF123xyz"
    assert claims.iat == int(NOW)
    assert claims.exp == int(NOW) + 600
    assert claims.kid == "k1"
    assert len(claims.jti) == 22  # 128 random bits, base64url


def test_defaults_name_empty_and_no_case() -> None:
    claims = verify(
        KEYS, mint(KEYS, entry="demo", sub="c", tier="standard", ttl_s=60, now=NOW), now=NOW
    )
    assert claims.name == ""
    assert claims.case is None


def test_issue_returns_the_claims_verify_sees() -> None:
    token, claims = issue(KEYS, entry="demo", sub="c1", tier="vip", name="Al", ttl_s=60, now=NOW)
    assert verify(KEYS, token, now=NOW) == claims
    assert isinstance(claims, LinkClaims)


def test_format_is_compact_url_safe_three_segments() -> None:
    token = mint(
        KEYS,
        entry="support",
        sub="customer-0000012345",
        tier="enterprise",
        name="Jane Q. Customer-Smith",
        case="s_" + "x" * 16,
        ttl_s=86400,
        now=NOW,
    )
    kid, body, mac = token.split(".")
    assert kid == "k1"
    assert len(mac) == 43  # 32-byte HMAC-SHA256, unpadded base64url
    assert len(token) < 400
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    payload = json.loads(unb64(body))
    assert payload["sub"] == "customer-0000012345"
    assert "kid" not in payload


def test_longest_inputs_stay_under_the_limit() -> None:
    token = mint(
        KEYS,
        entry="e" * 64,
        sub="s" * 128,
        tier="t" * 64,
        name="\U0001f600" * 100,
        case="c" * 64,
        ttl_s=60,
        now=NOW,
    )
    assert len(token) <= MAX_TOKEN
    assert verify(KEYS, token, now=NOW).name == "\U0001f600" * 100


def test_each_mint_has_a_fresh_nonce() -> None:
    jtis = {
        verify(KEYS, mint(KEYS, entry="demo", sub="c", tier="t", ttl_s=60, now=NOW), now=NOW).jti
        for _ in range(50)
    }
    assert len(jtis) == 50


def test_long_names_are_cut_like_customer_tokens() -> None:
    token = mint(KEYS, entry="demo", sub="c", tier="t", name="n" * 300, ttl_s=60, now=NOW)
    assert verify(KEYS, token, now=NOW).name == "n" * 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"entry": ""},
        {"entry": "Not An Entry"},
        {"sub": ""},
        {"sub": "x" * 129},
        {"tier": ""},
        {"case": ""},
        {"case": "has space"},
        {"ttl_s": 0.5},
        {"ttl_s": -10},
    ],
)
def test_mint_refuses_what_verify_would_refuse(kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"entry": "demo", "sub": "c", "tier": "t", "ttl_s": 60, "now": NOW}
    with pytest.raises(ValueError):
        mint(KEYS, **{**args, **kwargs})


# ---------------------------------------------------------------- expiry


def test_expired_exactly_at_exp_with_no_leeway() -> None:
    token = mint(KEYS, entry="demo", sub="c", tier="t", ttl_s=300, now=NOW)
    exp = int(NOW) + 300
    assert verify(KEYS, token, now=exp - 0.001).exp == exp
    err = refusal(KEYS, token, now=exp)
    assert err.reason == "expired"
    assert (err.code, err.http_status, err.message) == (
        "unauthorized",
        410,
        "this link has expired",
    )
    assert reason(KEYS, token, now=exp + 86400) == "expired"


def test_fractional_now_never_mints_an_already_expired_link() -> None:
    token = mint(KEYS, entry="demo", sub="c", tier="t", ttl_s=1, now=NOW + 0.999)
    assert verify(KEYS, token, now=NOW + 0.999).exp == int(NOW) + 1


# ---------------------------------------------------------------- tampering


def _token() -> str:
    return mint(KEYS, entry="support", sub="cust-42", tier="standard", ttl_s=600, now=NOW)


def test_tampered_payload() -> None:
    kid, body, mac = _token().split(".")
    payload = json.loads(unb64(body))
    payload["tier"] = "vip"
    err = refusal(KEYS, f"{kid}.{b64(json.dumps(payload).encode())}.{mac}")
    assert err.reason == "tampered"


def test_any_single_character_change_is_refused() -> None:
    token = _token()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, ch in enumerate(token):
        if ch == ".":
            continue
        other = alphabet[(alphabet.index(ch) + 1) % len(alphabet)]
        with pytest.raises(LinkError) as err:
            verify(KEYS, token[:i] + other + token[i + 1 :], now=NOW)
        assert err.value.message == INVALID


def test_tampered_mac() -> None:
    kid, body, mac = _token().split(".")
    flipped = ("B" if mac[0] == "A" else "A") + mac[1:]
    assert reason(KEYS, f"{kid}.{body}.{flipped}") == "tampered"
    # a non-canonical spelling of the same MAC bytes is refused too
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(mac[-1])
    twin = mac[:-1] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    assert reason(KEYS, f"{kid}.{body}.{twin}") == "tampered"
    assert reason(KEYS, f"{kid}.{body}.{mac[:-4]}") == "tampered"
    assert reason(KEYS, f"{kid}.{body}.{mac}AAAA") == "tampered"


def test_wrong_key_with_the_same_kid() -> None:
    other = LinkKeys(("k1", "an-entirely-different-secret-" + "z" * 32))
    token = mint(other, entry="demo", sub="c", tier="t", ttl_s=60, now=NOW)
    assert reason(KEYS, token) == "tampered"


def test_unknown_kid() -> None:
    token = mint(LinkKeys(K2), entry="demo", sub="c", tier="t", ttl_s=60, now=NOW)
    assert reason(KEYS, token) == "tampered"
    # relabelling a token with a known kid does not help either
    _, body, mac = token.split(".")
    assert reason(KEYS, f"k1.{body}.{mac}") == "tampered"


def test_tampered_and_malformed_look_the_same_from_outside() -> None:
    kid, body, mac = _token().split(".")
    tampered = refusal(KEYS, f"{kid}.{body}.{mac[::-1]}")
    malformed = refusal(KEYS, "garbage")
    assert (tampered.reason, malformed.reason) == ("tampered", "malformed")
    for err in (tampered, malformed):
        assert (err.code, err.http_status, err.message) == ("forbidden", 403, INVALID)
        assert str(err) == INVALID


# ---------------------------------------------------------------- rotation


def test_rotation_keeps_old_links_working_until_the_key_is_dropped() -> None:
    before = LinkKeys(K1)
    old_token = mint(before, entry="demo", sub="c", tier="t", ttl_s=600, now=NOW)

    after = before.rotate(K2)  # k2 signs; k1 only verifies
    assert after.current_kid == "k2"
    assert after.kids == ("k2", "k1")
    assert verify(after, old_token, now=NOW).kid == "k1"
    new_token = mint(after, entry="demo", sub="c", tier="t", ttl_s=600, now=NOW)
    assert new_token.startswith("k2.")
    assert verify(after, new_token, now=NOW).kid == "k2"
    assert reason(before, new_token) == "tampered"  # a node not yet rotated

    dropped = LinkKeys(K2)
    assert reason(dropped, old_token) == "tampered"
    assert verify(dropped, new_token, now=NOW).kid == "k2"
    assert after.rotate(K3, keep=1).kids == ("k3", "k2")


def test_explicit_previous_keys_verify() -> None:
    keys = LinkKeys(K3, (K2, K1))
    for k in (K1, K2, K3):
        token = mint(LinkKeys(k), entry="demo", sub="c", tier="t", ttl_s=60, now=NOW)
        assert verify(keys, token, now=NOW).kid == k[0]


def test_from_config_first_key_is_current() -> None:
    keys = LinkKeys.from_config([{"kid": K2[0], "secret": K2[1]}, {"kid": K1[0], "secret": K1[1]}])
    assert keys.current_kid == "k2"
    assert keys.kids == ("k2", "k1")


@pytest.mark.parametrize(
    ("current", "previous", "key"),
    [
        (("", K1[1]), (), "links.keys.kid"),
        (("has.dot", K1[1]), (), "links.keys.kid"),
        (("k" * 33, K1[1]), (), "links.keys.kid"),
        (K1, (("k1", K2[1]),), "links.keys.kid"),
        (("k1", "short"), (), "links.keys.secret"),
        (K1, (("k2", ""),), "links.keys.secret"),
    ],
)
def test_bad_keys_are_config_errors(
    current: tuple[str, str], previous: tuple[tuple[str, str], ...], key: str
) -> None:
    with pytest.raises(ConfigError) as err:
        LinkKeys(current, previous)
    assert err.value.key == key


def test_secrets_stay_out_of_repr_and_errors() -> None:
    assert K1[1] not in repr(KEYS)
    with pytest.raises(ConfigError) as err:
        LinkKeys(("k1", "too-short-secret"))
    assert "too-short-secret" not in str(err.value)
    with pytest.raises(ConfigError):
        LinkKeys.from_config([])


# ---------------------------------------------------------------- malformed


@pytest.mark.parametrize(
    "token",
    [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "k1..",
        "..",
        "k1.e30.",
        "k 1.e30.abc",
        "k1.e30=.abc",
        "k1.e3+0.abc",
        "k1.e30.ab/c",
        "k1.\u00e9.abc",
        "x" * (MAX_TOKEN + 1),
        "k1." + "A" * MAX_TOKEN + ".abc",
        None,
        12345,
        b"k1.e30.abc",
    ],
)
def test_malformed_tokens(token: Any) -> None:
    err = refusal(KEYS, token)
    assert err.reason == "malformed"
    assert (err.code, err.http_status, err.message) == ("forbidden", 403, INVALID)


@pytest.mark.parametrize(
    "payload",
    [
        good_payload(exp=str(int(NOW) + 600)),
        good_payload(exp=float(NOW + 600)),
        good_payload(exp=True),
        good_payload(exp=None),
        good_payload(exp=-1),
        good_payload(exp=...),
        good_payload(iat=...),
        good_payload(jti=...),
        good_payload(jti="short"),
        good_payload(jti="A" * 21 + "="),
        good_payload(jti=12345),
        good_payload(sub=42),
        good_payload(sub=""),
        good_payload(sub=...),
        good_payload(sub=["cust-42"]),
        good_payload(tier=None),
        good_payload(tier=...),
        good_payload(entry="Support!"),
        good_payload(entry=...),
        good_payload(name=7),
        good_payload(name="n" * 101),
        good_payload(case=""),
        good_payload(case=5),
        good_payload(case="s_1 2"),
        good_payload(admin=True),  # unknown claims are refused, not ignored
        good_payload(kid="k1"),
    ],
)
def test_wrong_claim_types_are_malformed_even_when_signed(payload: dict[str, Any]) -> None:
    assert reason(KEYS, forged(payload)) == "malformed"


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'"text"', b"null", b"\xff\xfe{}"])
def test_signed_non_objects_are_malformed(raw: bytes) -> None:
    assert reason(KEYS, _seal(K1[0], K1[1].encode(), raw)) == "malformed"


def test_forged_good_payload_is_accepted() -> None:
    """The helper above is sound: the same payload, well formed, verifies."""
    claims = verify(KEYS, forged(good_payload(case="s_abc", name="Jo")), now=NOW)
    assert (claims.case, claims.name, claims.jti) == ("s_abc", "Jo", "A" * 22)


def test_case_may_be_null() -> None:
    assert verify(KEYS, forged(good_payload(case=None)), now=NOW).case is None


# ---------------------------------------------------------------- the error itself


@pytest.mark.parametrize(
    ("why", "code", "status", "message"),
    [
        ("expired", "unauthorized", 410, "this link has expired"),
        ("used", "unauthorized", 410, "this link was already used"),
        ("tampered", "forbidden", 403, "this link is not valid"),
        ("malformed", "forbidden", 403, "this link is not valid"),
    ],
)
def test_link_error_mapping(why: str, code: str, status: int, message: str) -> None:
    err = LinkError(why)
    assert isinstance(err, LivedeskError)
    assert (err.reason, err.code, err.http_status, err.message, str(err)) == (
        why,
        code,
        status,
        message,
        message,
    )
    assert repr(err) == f"LinkError({why!r})"


def test_link_error_rejects_unknown_reasons() -> None:
    with pytest.raises(ValueError):
        LinkError("lost")
