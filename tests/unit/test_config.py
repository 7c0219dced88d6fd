"""Configuration: defaults, the shipped template, environment overrides and clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from signaling import config
from signaling.config import Config, from_dict, load
from signaling.errors import ConfigError

LONG_SECRET = "k" * 40


def config_error(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        from_dict(raw)
    return err.value


# ---------------------------------------------------------------- valid configurations


def test_zero_config_is_valid():
    cfg = load(env={})
    assert cfg == from_dict({})
    assert (cfg.server.host, cfg.server.port) == ("127.0.0.1", 8080)
    assert cfg.routing.tier_priority == ["premium", "high_value", "loyalty", "standard"]
    assert cfg.store.redis_url == ""
    assert list(cfg.entries) == ["demo"]


def test_shipped_template_is_valid_toml_and_matches_the_defaults():
    assert from_dict(tomllib.loads(config.template())) == from_dict({})


def test_template_names_every_section():
    raw = tomllib.loads(config.template())
    assert set(raw) == set(Config.__struct_fields__)


def test_file_values_are_read(tmp_path: Path):
    path = tmp_path / "livedesk.toml"
    path.write_text('[server]\nport = 9000\n[entries.shop]\ntitle = "Shop help"\nskill = "sales"\n')
    cfg = load(path, env={})
    assert cfg.server.port == 9000
    assert list(cfg.entries) == ["shop"]
    assert (cfg.entries["shop"].title, cfg.entries["shop"].skill) == ("Shop help", "sales")


def test_archive_defaults_to_the_data_dir():
    cfg = from_dict({"server": {"data_dir": "/srv/livedesk"}})
    assert cfg.archive_path == Path("/srv/livedesk/archive.sqlite3")
    assert from_dict({"archive": {"path": "/db/a.sqlite3"}}).archive_path == Path("/db/a.sqlite3")


# ---------------------------------------------------------------- environment


def test_env_sets_section_and_key():
    cfg = load(env={"LIVEDESK_ROUTING_OFFER_TIMEOUT_S": "15"})
    assert cfg.routing.offer_timeout_s == 15.0


@pytest.mark.parametrize(
    ("name", "value", "section", "key", "expected"),
    [
        (
            "LIVEDESK_REDIS_URL",
            "redis://cache:6379/0",
            "store",
            "redis_url",
            "redis://cache:6379/0",
        ),
        (
            "LIVEDESK_DATABASE_URL",
            "postgresql://livedesk@db:5432/livedesk",
            "archive",
            "url",
            "postgresql://livedesk@db:5432/livedesk",
        ),
        ("LIVEDESK_DATA_DIR", "/var/lib/livedesk", "server", "data_dir", "/var/lib/livedesk"),
        ("LIVEDESK_HOST", "0.0.0.0", "server", "host", "0.0.0.0"),
        ("LIVEDESK_PORT", "9090", "server", "port", 9090),
        ("LIVEDESK_SECRET", "node-secret", "server", "secret", "node-secret"),
        ("LIVEDESK_CUSTOMER_TOKEN_SECRET", LONG_SECRET, "customer_tokens", "secret", LONG_SECRET),
    ],
)
def test_env_short_aliases(name: str, value: str, section: str, key: str, expected: object):
    cfg = load(env={name: value})
    assert getattr(getattr(cfg, section), key) == expected


@pytest.mark.parametrize(
    ("name", "value", "section", "key", "expected"),
    [
        ("LIVEDESK_SERVER_PORT", "81", "server", "port", 81),
        ("LIVEDESK_AUTH_COOKIE_SECURE", "true", "auth", "cookie_secure", True),
        ("LIVEDESK_SERVER_DEMO", "false", "server", "demo", False),
        ("LIVEDESK_CUSTOMER_TOKENS_ALGORITHM", "HS512", "customer_tokens", "algorithm", "HS512"),
        ("LIVEDESK_LIMITS_MESSAGE_BURST", "5", "limits", "message_burst", 5),
    ],
)
def test_env_values_are_converted_to_the_key_s_type(
    name: str, value: str, section: str, key: str, expected: object
):
    cfg = load(env={name: value})
    assert getattr(getattr(cfg, section), key) == expected


def test_env_list_values_are_comma_separated_and_trimmed():
    cfg = load(
        env={
            "LIVEDESK_SERVER_ALLOWED_ORIGINS": "https://a.example, https://b.example:8443,",
            "LIVEDESK_ROUTING_TIER_PRIORITY": "gold,silver",
        }
    )
    assert cfg.server.allowed_origins == ["https://a.example", "https://b.example:8443"]
    assert cfg.routing.tier_priority == ["gold", "silver"]


def test_empty_and_unrelated_env_variables_are_ignored():
    cfg = load(
        env={
            "LIVEDESK_HOST": "",
            "LIVEDESK_TEST_REDIS": "1",
            "LIVEDESK_ROUTING_NO_SUCH_KEY": "1",
            "LIVEDESK_NOSECTION_X": "1",
            "REDIS_URL": "redis://elsewhere",
        }
    )
    assert cfg == from_dict({})


def test_env_wins_over_the_file_and_overrides_win_over_env(tmp_path: Path):
    path = tmp_path / "livedesk.toml"
    path.write_text("[routing]\noffer_timeout_s = 5\n[server]\nport = 1234\n")
    cfg = load(
        path,
        env={"LIVEDESK_ROUTING_OFFER_TIMEOUT_S": "7", "LIVEDESK_PORT": "2345"},
        overrides={"server": {"port": 4321, "host": None}},
    )
    assert cfg.routing.offer_timeout_s == 7.0
    assert cfg.server.port == 4321
    assert cfg.server.host == "127.0.0.1"  # a None override leaves the value alone


def test_bad_env_value_names_the_key_and_the_value():
    with pytest.raises(ConfigError) as err:
        load(env={"LIVEDESK_PORT": "eighty"})
    assert str(err.value) == "config error: server.port = 'eighty': Expected `int`, got `str`"


# ---------------------------------------------------------------- errors

INVALID = [
    pytest.param(
        {"routing": {"offer_timeout_s": -1}},
        "config error: routing.offer_timeout_s = -1: Expected `float` > 0.0",
        id="negative-timeout",
    ),
    pytest.param(
        {"routing": {"offer_timeout_s": 0}},
        "config error: routing.offer_timeout_s = 0: Expected `float` > 0.0",
        id="zero-timeout",
    ),
    pytest.param(
        {"server": {"port": "abc"}},
        "config error: server.port = 'abc': Expected `int`, got `str`",
        id="non-int-port",
    ),
    pytest.param(
        {"server": {"port": 70000}},
        "config error: server.port = 70000: Expected `int` <= 65535",
        id="port-out-of-range",
    ),
    pytest.param(
        {"server": {"prot": 8080}},
        "config error: server.prot = 8080: unknown key",
        id="unknown-key",
    ),
    pytest.param(
        {"sever": {"port": 8080}},
        "config error: sever = {'port': 8080}: unknown key",
        id="unknown-section",
    ),
    pytest.param(
        {"server": "localhost"},
        "config error: server = 'localhost': Expected `object`, got `str`",
        id="section-not-a-table",
    ),
    pytest.param(
        {"entries": {"Bad Id": {"title": "x"}}},
        "config error: entries = ['Bad Id']: a name in this table is invalid: "
        "Expected `str` matching regex '^[a-z0-9][a-z0-9_-]{0,63}$'",
        id="bad-entry-id",
    ),
    pytest.param(
        {"entries": {}},
        "config error: entries = {}: at least one entry is needed",
        id="no-entries",
    ),
    pytest.param(
        {"store": {"redis_url": "http://cache:6379"}},
        "config error: store.redis_url = 'http://cache:6379': "
        "must start with redis://, rediss:// or unix://",
        id="bad-redis-url",
    ),
    pytest.param(
        {"archive": {"url": "mysql://ld:hunter2@db/livedesk"}},
        "config error: archive.url = 'mysql://ld:***@db/livedesk': "
        "must start with postgresql:// (or be empty: SQLite)",
        id="bad-database-url-password-hidden",
    ),
    pytest.param(
        {"archive": {"pool_size": 1}},
        "config error: archive.pool_size = 1: Expected `int` >= 2",
        id="pool-too-small",
    ),
    pytest.param(
        {"server": {"allowed_origins": ["https://ok.example", "https://shop.example/path"]}},
        "config error: server.allowed_origins = 'https://shop.example/path': "
        "an origin is scheme://host[:port], no path",
        id="origin-with-path",
    ),
    pytest.param(
        {"server": {"allowed_origins": ["shop.example"]}},
        "config error: server.allowed_origins = 'shop.example': "
        "an origin is scheme://host[:port], no path",
        id="origin-without-scheme",
    ),
    pytest.param(
        {"server": {"allowed_origins": "https://ok.example"}},
        "config error: server.allowed_origins = 'https://ok.example': Expected `array`, got `str`",
        id="origins-not-a-list",
    ),
    pytest.param(
        {"server": {"public_url": "help.example.com"}},
        "config error: server.public_url = 'help.example.com': must be an http(s) URL",
        id="bad-public-url",
    ),
    pytest.param(
        {"server": {"log_level": "loud"}},
        "config error: server.log_level = 'loud': "
        "Expected `str` matching regex '^(debug|info|warning|error)$'",
        id="bad-log-level",
    ),
    pytest.param(
        {"customer_tokens": {"algorithm": "none"}},
        "config error: customer_tokens.algorithm = 'none': "
        "Expected `str` matching regex '^HS(256|384|512)$'",
        id="alg-none",
    ),
    pytest.param(
        {"routing": {"tier_priority": ["premium", 2]}},
        "config error: routing.tier_priority[1] = 2: Expected `str`, got `int`",
        id="bad-list-item",
    ),
    pytest.param(
        {"limits": {"ws_max_frame_bytes": 100}},
        "config error: limits.ws_max_frame_bytes = 100: Expected `int` >= 20000",
        id="frame-limit-too-small",
    ),
    pytest.param(
        {"server": {"gc_full_every_s": -1}},
        "config error: server.gc_full_every_s = -1: Expected `float` >= 0.0",
        id="gc-interval-negative",
    ),
]


@pytest.mark.parametrize(("raw", "message"), INVALID)
def test_invalid_value_names_the_key_and_the_value(raw: dict[str, Any], message: str):
    assert str(config_error(raw)) == message


def test_config_error_keeps_key_and_value_as_attributes():
    err = config_error({"routing": {"offer_timeout_s": -1}})
    assert (err.key, err.value, err.why) == (
        "routing.offer_timeout_s",
        -1,
        "Expected `float` > 0.0",
    )


def test_short_customer_secret_is_refused_without_echoing_it():
    secret = "s3cr3t-but-short"
    err = config_error({"customer_tokens": {"secret": secret}})
    assert (
        str(err) == "config error: customer_tokens.secret = '***': must be at least 32 characters"
    )
    assert secret not in str(err)


def test_customer_secret_of_32_characters_is_enough():
    assert from_dict({"customer_tokens": {"secret": "x" * 32}}).customer_tokens.secret == "x" * 32


def test_missing_file_is_named(tmp_path: Path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert str(err.value) == f"config error: --config = {str(path)!r}: file not found"


def test_invalid_toml_is_named_with_the_parser_s_reason(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text("[server\nport = 1\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert err.value.key == "--config"
    assert err.value.value == str(path)
    assert err.value.why.startswith("not valid TOML: ")
    assert "line 1" in err.value.why


def test_invalid_value_in_a_file_names_the_key(tmp_path: Path):
    path = tmp_path / "livedesk.toml"
    path.write_text("[routing]\ndecline_cooldown_s = -30\n")
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert (
        str(err.value) == "config error: routing.decline_cooldown_s = -30: Expected `float` > 0.0"
    )


# ---------------------------------------------------------------- known bugs


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"entries": {"shop": {"language": "fr"}}},
            "config error: entries.shop.language = 'fr': "
            "Expected `str` matching regex '^(|en|ko)$'",
        ),
        (
            {"entries": {"shop": {"titel": "Help"}}},
            "config error: entries.shop.titel = 'Help': unknown key",
        ),
    ],
    ids=["bad-value", "unknown-key"],
)
def test_invalid_entry_setting_names_the_entry_key_and_value(raw: dict[str, Any], message: str):
    assert str(config_error(raw)) == message


def test_config_file_that_is_not_utf8_is_a_config_error(tmp_path: Path):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[entries.demo]\ntitle = "Café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as err:
        load(path, env={})
    assert err.value.key == "--config"


def test_config_path_that_is_a_directory_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, env={})
    assert err.value.key == "--config"


# ---------------------------------------------------------------- escalation bot

SHOP = {"channels": ["chat", "screen"]}


def shop_with_bot(bot: dict[str, Any]) -> dict[str, Any]:
    return {"entries": {"shop": {**SHOP, "bot": bot}}}


def test_an_entry_s_bot_proposes_nothing_by_default():
    entry = from_dict({"entries": {"shop": {}}}).entries["shop"]
    assert entry.bot_rules().enabled is True
    assert entry.bot_rules().rules == ()


def test_bot_rules_are_read_from_toml():
    raw = tomllib.loads(
        """
        [entries.shop]
        channels = ["chat", "screen"]
        [[entries.shop.bot.rules]]
        channel = "screen"
        reason = "Sharing your screen lets the agent see what you see"
        phrases = ["can you see this", "화면을 보여"]
        patterns = ['stuck (at|on) (the )?checkout']
        [[entries.shop.bot.faq]]
        phrases = ["opening hours"]
        answer = "We are open 9-18 KST on weekdays."
        """
    )
    rules = from_dict(raw).entries["shop"].bot_rules()
    assert rules.rules[0].channel == "screen"
    assert rules.rules[0].phrases == ("can you see this", "화면을 보여")
    assert rules.faq[0].answer == "We are open 9-18 KST on weekdays."


def test_demo_entry_offers_rich_channels_and_a_bilingual_bot():
    from signaling.escalation import answer, propose

    demo = from_dict({}).entries["demo"]
    assert demo.channels == ["chat", "voice", "video", "screen", "cobrowse"]
    assert demo.cobrowse.mask == [".shop-account"]
    rules = demo.bot_rules()
    assert propose(rules, "can you help me fill in this form").channel == "cobrowse"  # type: ignore[union-attr]
    assert propose(rules, "I'm stuck at checkout").channel == "screen"  # type: ignore[union-attr]
    assert propose(rules, "can you see this?").channel == "screen"  # type: ignore[union-attr]
    assert propose(rules, "화면을 보여드릴게요").channel == "screen"  # type: ignore[union-attr]
    assert propose(rules, "the part is broken").channel == "video"  # type: ignore[union-attr]
    assert propose(rules, "영상 통화 돼요?").channel == "video"  # type: ignore[union-attr]
    assert answer(rules, "what are your opening hours?") is not None


INVALID_BOT = [
    pytest.param(
        {"rules": [{"channel": "screen", "reason": "r", "patterns": ["ok", "stuck (at"]}]},
        "config error: entries.shop.bot.rules[0].patterns[1] = 'stuck (at': "
        "not a valid regular expression: missing ), unterminated subpattern at position 6",
        id="bad-regex",
    ),
    pytest.param(
        {"rules": [{"channel": "fax", "reason": "r", "phrases": ["x"]}]},
        "config error: entries.shop.bot.rules[0].channel = 'fax': "
        "expected one of voice, video, screen, cobrowse",
        id="unknown-channel",
    ),
    pytest.param(
        {"rules": [{"channel": "video", "reason": "r", "phrases": ["x"]}]},
        "config error: entries.shop.bot.rules[0].channel = 'video': "
        "not offered by this entry (entries.shop.channels)",
        id="channel-not-offered",
    ),
    pytest.param(
        {"rules": [{"channel": "screen", "reason": "r"}]},
        "config error: entries.shop.bot.rules[0].phrases = []: "
        "needs at least one phrase or pattern",
        id="nothing-to-match",
    ),
    pytest.param(
        {"rules": [{"channel": "screen", "reason": "", "phrases": ["x"]}]},
        "config error: entries.shop.bot.rules[0].reason = '': must not be empty",
        id="empty-reason",
    ),
    pytest.param(
        {"rules": [{"channel": "screen", "phrases": ["x"]}]},
        "config error: entries.shop.bot.rules[0] = {'channel': 'screen', 'phrases': ['x']}: "
        "Object missing required field `reason`",
        id="missing-reason",
    ),
    pytest.param(
        {"rules": [{"channel": "screen", "reason": "r", "phrase": ["x"]}]},
        "config error: entries.shop.bot.rules[0].phrase = ['x']: unknown key",
        id="unknown-rule-key",
    ),
    pytest.param(
        {"faq": [{"answer": "a", "phrases": ["ok", 3]}]},
        "config error: entries.shop.bot.faq[0].phrases[1] = 3: Expected `str`, got `int`",
        id="faq-phrase-not-a-string",
    ),
    pytest.param(
        {"faq": [{"answer": "a", "patterns": ["(?P<x"]}]},
        "config error: entries.shop.bot.faq[0].patterns[0] = '(?P<x': "
        "not a valid regular expression: missing >, unterminated name at position 4",
        id="faq-bad-regex",
    ),
]


@pytest.mark.parametrize(("bot", "message"), INVALID_BOT)
def test_invalid_bot_setting_names_the_entry_key_and_value(bot: dict[str, Any], message: str):
    assert str(config_error(shop_with_bot(bot))) == message


# ---------------------------------------------------------------- media

TURN_SECRET = "coturn-static-auth-secret"


def test_media_defaults_need_no_ice_servers():
    media = from_dict({}).media
    assert (media.ice_servers, media.turn_secret, media.host_addresses) == ([], "", [])
    assert (media.turn_ttl_s, media.max_bitrate_kbps) == (600.0, 2500)


def test_ice_servers_are_read_from_toml():
    raw = tomllib.loads(
        f"""
        [media]
        turn_secret = "{TURN_SECRET}"
        [[media.ice_servers]]
        urls = ["stun:stun.example.com:3478"]
        [[media.ice_servers]]
        urls = ["turns:turn.example.com:5349"]
        use_turn_secret = true
        """
    )
    media = from_dict(raw).media
    assert media.ice_servers[0].urls == ["stun:stun.example.com:3478"]
    assert media.ice_servers[1].use_turn_secret is True


def test_env_sets_the_turn_secret_and_host_addresses():
    cfg = load(
        env={
            "LIVEDESK_TURN_SECRET": TURN_SECRET,
            "LIVEDESK_MEDIA_HOST_ADDRESSES": "127.0.0.1, ::1",
        }
    )
    assert cfg.media.turn_secret == TURN_SECRET
    assert cfg.media.host_addresses == ["127.0.0.1", "::1"]


INVALID_MEDIA = [
    pytest.param(
        {"ice_servers": [{"urls": ["stun:ok.example"]}, {"urls": ["http://turn.example"]}]},
        "config error: media.ice_servers[1].urls = 'http://turn.example': "
        "must be stun:, stuns:, turn: or turns: and a host",
        id="bad-scheme",
    ),
    pytest.param(
        {"ice_servers": [{"urls": []}]},
        "config error: media.ice_servers[0].urls = []: at least one URL is needed",
        id="no-urls",
    ),
    pytest.param(
        {"ice_servers": [{"urls": ["turn:t.example"], "use_turn_secret": True}]},
        "config error: media.ice_servers[0].use_turn_secret = True: "
        "needs media.turn_secret (coturn's static-auth-secret)",
        id="turn-secret-missing",
    ),
    pytest.param(
        {
            "turn_secret": TURN_SECRET,
            "ice_servers": [
                {"urls": ["turn:t.example"], "use_turn_secret": True, "credential": "pw"}
            ],
        },
        "config error: media.ice_servers[0].credential = '***': "
        "use_turn_secret mints the credentials; leave this out",
        id="minted-and-static",
    ),
    pytest.param(
        {"ice_servers": [{"urls": ["turn:t.example"], "username": "ld"}]},
        "config error: media.ice_servers[0] = ['turn:t.example']: "
        "a TURN server needs username and credential, or use_turn_secret = true",
        id="turn-without-credentials",
    ),
    pytest.param(
        {"ice_servers": [{"url": "stun:s.example"}]},
        "config error: media.ice_servers[0].url = 'stun:s.example': unknown key",
        id="unknown-server-key",
    ),
    pytest.param(
        {"host_addresses": ["127.0.0.1", "localhost"]},
        "config error: media.host_addresses = 'localhost': not an IP address",
        id="host-not-an-ip",
    ),
    pytest.param(
        {"turn_ttl_s": 86401},
        "config error: media.turn_ttl_s = 86401: Expected `float` <= 86400.0",
        id="ttl-over-a-day",
    ),
    pytest.param(
        {"max_bitrate_kbps": 0},
        "config error: media.max_bitrate_kbps = 0: Expected `int` >= 1",
        id="zero-bitrate",
    ),
    pytest.param(
        {"forward_queue_frames": 0},
        "config error: media.forward_queue_frames = 0: Expected `int` >= 1",
        id="zero-queue",
    ),
    pytest.param(
        {"keyframe_min_interval_s": 0},
        "config error: media.keyframe_min_interval_s = 0: Expected `float` > 0.0",
        id="zero-keyframe-interval",
    ),
    pytest.param(
        {"media_failure_grace_s": -1},
        "config error: media.media_failure_grace_s = -1: Expected `float` > 0.0",
        id="negative-grace",
    ),
]


@pytest.mark.parametrize(("media", "message"), INVALID_MEDIA)
def test_invalid_media_setting_names_the_key_and_value(media: dict[str, Any], message: str):
    assert str(config_error({"media": media})) == message


def test_turn_errors_never_echo_the_secret_or_a_credential():
    err = config_error(
        {
            "media": {
                "turn_secret": TURN_SECRET,
                "ice_servers": [
                    {"urls": ["turn:t.example"], "use_turn_secret": True, "credential": "pw-77"}
                ],
            }
        }
    )
    assert TURN_SECRET not in str(err) and "pw-77" not in str(err)


def test_recording_policy_per_entry_and_tier():
    cfg = from_dict(
        {
            "entries": {
                "shop": {
                    "recording": {
                        "mode": "never",
                        "tiers": {"premium": "always"},
                        "on_decline": "chat_only",
                        "retention_days": 30,
                        "tier_retention_days": {"premium": 365},
                    }
                }
            }
        }
    )
    rec = cfg.entries["shop"].recording
    assert (rec.mode_for("standard"), rec.mode_for("premium")) == ("never", "always")
    assert (rec.retention_days_for("standard"), rec.retention_days_for("premium")) == (30, 365)
    assert rec.on_decline == "chat_only"
    assert from_dict({}).entries["demo"].recording.mode_for("standard") == "on_request"


@pytest.mark.parametrize(
    ("recording", "key"),
    [
        ({"mode": "sometimes"}, "entries.shop.recording.mode"),
        ({"tiers": {"premium": "maybe"}}, "entries.shop.recording.tiers[...]"),
        ({"retention_days": -1}, "entries.shop.recording.retention_days"),
        ({"on_decline": "hang_up"}, "entries.shop.recording.on_decline"),
    ],
)
def test_a_bad_recording_policy_names_its_key(recording: dict, key: str):
    with pytest.raises(ConfigError) as err:
        from_dict({"entries": {"shop": {"recording": recording}}})
    assert err.value.key == key


def test_a_recording_key_file_that_is_missing_or_bad_stops_start_up(tmp_path: Path):
    missing = tmp_path / "nope.key"
    with pytest.raises(ConfigError) as err:
        from_dict({"recording": {"encryption_key_file": str(missing)}})
    assert err.value.key == "recording.encryption_key_file"
    short = tmp_path / "short.key"
    short.write_text("c2hvcnQ=\n")
    with pytest.raises(ConfigError) as err:
        from_dict({"recording": {"encryption_key_file": str(short)}})
    assert err.value.key == "recording.encryption_key_file"


@pytest.mark.parametrize(
    ("field", "selector"),
    [
        ("mask", ""),
        ("mask", "   "),
        ("block", "div { color: red }"),
        ("block", "<script>"),
        ("mask", "a; b"),
        ("mask", "x" * 201),
        ("block", "a\\b"),
    ],
)
def test_cobrowse_selectors_are_plain_selector_lists(field: str, selector: str):
    """A selector reaches the customer's browser as is, so anything but a selector stops start-up."""
    with pytest.raises(ConfigError) as err:
        from_dict({"entries": {"shop": {"cobrowse": {field: [selector]}}}})
    assert err.value.key == f"entries.shop.cobrowse.{field}"


def test_cobrowse_selectors_and_caps_are_read():
    cfg = from_dict(
        {
            "cobrowse": {"max_batch_bytes": 8192, "viewer_buffer_bytes": 1048576},
            "entries": {"shop": {"cobrowse": {"mask": [".iban, #ssn"], "block": ["iframe.ads"]}}},
        }
    )
    assert cfg.cobrowse.max_batch_bytes == 8192
    assert cfg.entries["shop"].cobrowse.mask == [".iban, #ssn"]
    assert cfg.entries["shop"].cobrowse.block == ["iframe.ads"]
