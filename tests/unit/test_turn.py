"""TURN REST credentials and the ICE server list browsers are given."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from signaling.config import IceServerConfig, MediaConfig
from signaling.turn import ice_servers_for, mint

SECRET = "coturn-static-auth-secret-0123456789"
NOW = 1_760_000_000.25


def test_credential_is_base64_hmac_sha1_of_the_username():
    username, credential = mint(SECRET, "cust-1", ttl_s=600, now=NOW)
    digest = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    assert credential == base64.b64encode(digest).decode()


def test_known_vector():
    """Computed once from the coturn formula; catches a change to it."""
    assert mint("s3cret", "agent-abc", ttl_s=3600, now=1_700_000_000) == (
        "1700003600:agent-abc",
        "FkN/Xvi4sOc3bHUeAf6d1d74NtM=",
    )


def test_username_is_expiry_then_user():
    username, _ = mint(SECRET, "cust-1", ttl_s=600, now=NOW)
    assert username == f"{int(NOW + 600)}:cust-1"


def test_colons_are_stripped_from_the_user():
    username, _ = mint(SECRET, "a:b::c", ttl_s=60, now=0)
    assert username == "60:abc"


@pytest.mark.parametrize(("secret", "ttl_s"), [("", 60), (SECRET, 0), (SECRET, -1)])
def test_minting_needs_a_secret_and_a_positive_ttl(secret: str, ttl_s: float):
    with pytest.raises(ValueError):
        mint(secret, "u", ttl_s=ttl_s, now=NOW)


MEDIA = MediaConfig(
    ice_servers=[
        IceServerConfig(urls=["stun:stun.example.com:3478"]),
        IceServerConfig(
            urls=["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"],
            use_turn_secret=True,
        ),
        IceServerConfig(urls=["turn:fixed.example.com"], username="ld", credential="pw"),
    ],
    turn_secret=SECRET,
    turn_ttl_s=900,
)


def test_no_ice_servers_by_default():
    assert ice_servers_for(MediaConfig(), "u", now=NOW) == []


def test_stun_and_static_servers_pass_through_in_order():
    servers = ice_servers_for(MEDIA, "cust-1", now=NOW)
    assert servers[0] == {"urls": ["stun:stun.example.com:3478"]}
    assert servers[2] == {"urls": ["turn:fixed.example.com"], "username": "ld", "credential": "pw"}


def test_turn_secret_servers_get_minted_credentials_that_expire_after_the_ttl():
    server = ice_servers_for(MEDIA, "cust-1", now=NOW)[1]
    username, credential = mint(SECRET, "cust-1", ttl_s=900, now=NOW)
    assert server == {
        "urls": ["turn:turn.example.com:3478?transport=udp", "turns:turn.example.com:5349"],
        "username": username,
        "credential": credential,
    }
    assert int(server["username"].split(":")[0]) == int(NOW + 900)


def test_the_turn_secret_never_appears_in_the_output():
    assert SECRET not in json.dumps(ice_servers_for(MEDIA, "cust-1", now=NOW))


def test_minted_usernames_strip_colons_from_the_user():
    server = ice_servers_for(MEDIA, "agent:7", now=NOW)[1]
    assert server["username"] == f"{int(NOW + 900)}:agent7"
