"""The WebSocket codec: every inbound message decodes, every kind of bad input gets its code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signaling import protocol as p
from signaling.errors import ERROR_CODES, ProtocolError
from signaling.interaction import Channel
from signaling.routing import Presence

INBOUND_STRUCTS = p.Inbound.__args__  # type: ignore[attr-defined]

# one valid example per inbound type, and the struct it must decode to
VALID: dict[str, tuple[dict[str, Any], Any]] = {
    "hello": (
        {"type": "hello", "id": 1, "token": "tok", "resume": {"s1": 4}},
        p.Hello(id=1, token="tok", resume={"s1": 4}),
    ),
    "ping": ({"type": "ping", "id": "r-1"}, p.Ping(id="r-1")),
    "chat.send": (
        {"type": "chat.send", "session": "s1", "text": "hello", "client_msg_id": "c-1", "id": 2},
        p.ChatSend(session="s1", text="hello", client_msg_id="c-1", id=2),
    ),
    "chat.typing": (
        {"type": "chat.typing", "session": "s1", "typing": True},
        p.ChatTyping(session="s1", typing=True),
    ),
    "chat.receipt": (
        {"type": "chat.receipt", "session": "s1", "seq": 7, "state": "read"},
        p.ChatReceipt(session="s1", seq=7, state="read"),
    ),
    "agent.status": (
        {"type": "agent.status", "status": "away"},
        p.AgentStatus(status=Presence.AWAY),
    ),
    "offer.accept": ({"type": "offer.accept", "session": "s1"}, p.OfferAccept(session="s1")),
    "offer.decline": ({"type": "offer.decline", "session": "s1"}, p.OfferDecline(session="s1")),
    "session.transfer": (
        {"type": "session.transfer", "session": "s1", "to_queue": "billing"},
        p.SessionTransfer(session="s1", to_queue="billing"),
    ),
    "session.wrapup": (
        {"type": "session.wrapup", "session": "s1"},
        p.SessionWrapUp(session="s1"),
    ),
    "session.complete": (
        {"type": "session.complete", "session": "s1", "disposition": "resolved", "notes": "ok"},
        p.SessionComplete(session="s1", disposition="resolved", notes="ok"),
    ),
    "session.leave": ({"type": "session.leave", "session": "s1"}, p.SessionLeave(session="s1")),
    "session.watch": ({"type": "session.watch", "session": "s1"}, p.SessionWatch(session="s1")),
    "channel.request": (
        {"type": "channel.request", "session": "s1", "channel": "video"},
        p.ChannelRequest(session="s1", channel=Channel.VIDEO),
    ),
    "channel.respond": (
        {"type": "channel.respond", "session": "s1", "channel": "screen", "accept": False},
        p.ChannelRespond(session="s1", channel=Channel.SCREEN, accept=False),
    ),
    "channel.stop": (
        {"type": "channel.stop", "session": "s1", "channel": "cobrowse"},
        p.ChannelStop(session="s1", channel=Channel.COBROWSE),
    ),
    "media.config": ({"type": "media.config", "session": "s1"}, p.MediaConfig(session="s1")),
    "media.offer": (
        {
            "type": "media.offer",
            "session": "s1",
            "sdp": "v=0",
            "send": [{"mid": "0", "source": "mic"}],
            "recv": [{"mid": "1", "pub": "p.1"}],
            "id": 3,
        },
        p.MediaOffer(
            session="s1",
            sdp="v=0",
            send=[p.SendSpec("0", "mic")],
            recv=[p.RecvSpec("1", "p.1")],
            id=3,
        ),
    ),
    "media.mute": (
        {"type": "media.mute", "session": "s1", "source": "camera", "muted": True},
        p.MediaMute(session="s1", source="camera", muted=True),
    ),
    "media.hangup": ({"type": "media.hangup", "session": "s1"}, p.MediaHangup(session="s1")),
    "recording.request": (
        {"type": "recording.request", "session": "s1", "id": 4},
        p.RecordingRequest(session="s1", id=4),
    ),
    "recording.respond": (
        {"type": "recording.respond", "session": "s1", "accept": False},
        p.RecordingRespond(session="s1", accept=False),
    ),
    "recording.pause": (
        {"type": "recording.pause", "session": "s1"},
        p.RecordingPause(session="s1"),
    ),
    "recording.resume": (
        {"type": "recording.resume", "session": "s1"},
        p.RecordingResume(session="s1"),
    ),
    "recording.stop": ({"type": "recording.stop", "session": "s1"}, p.RecordingStop(session="s1")),
    "cobrowse.events": (
        {"type": "cobrowse.events", "session": "s1", "batch": 3, "data": "[]", "id": 9},
        p.CobrowseEvents(session="s1", batch=3, data="[]", part=0, parts=1, snapshot=False, id=9),
    ),
    "cobrowse.snapshot": (
        {"type": "cobrowse.snapshot", "session": "s1"},
        p.CobrowseSnapshot(session="s1"),
    ),
    "cobrowse.pointer": (
        {"type": "cobrowse.pointer", "session": "s1", "node": 12, "x": 0.5, "y": 1},
        p.CobrowsePointer(session="s1", node=12, x=0.5, y=1.0),
    ),
    "cobrowse.command": (
        {
            "type": "cobrowse.command",
            "session": "s1",
            "cmd": "c1",
            "action": "input",
            "node": 7,
            "text": "Seoul",
        },
        p.CobrowseCommand(session="s1", cmd="c1", action="input", node=7, text="Seoul"),
    ),
    "cobrowse.result": (
        {
            "type": "cobrowse.result",
            "session": "s1",
            "cmd": "c1",
            "ok": False,
            "code": "masked",
            "masked": True,
            "selector": "#pw",
        },
        p.CobrowseResult(
            session="s1", cmd="c1", ok=False, code="masked", masked=True, selector="#pw"
        ),
    ),
    "cobrowse.control": (
        {"type": "cobrowse.control", "session": "s1", "action": "grant"},
        p.CobrowseControl(session="s1", action="grant"),
    ),
}


def frame(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def refusal(data: str | bytes) -> tuple[str, str]:
    with pytest.raises(ProtocolError) as err:
        p.decode(data)
    return err.value.code, err.value.message


# ---------------------------------------------------------------- valid messages


def test_there_is_a_valid_example_for_every_inbound_type():
    assert set(VALID) == set(p.INBOUND_TYPES)


@pytest.mark.parametrize("kind", sorted(VALID))
def test_valid_message_decodes_to_its_struct(kind: str):
    obj, expected = VALID[kind]
    assert p.decode(frame(obj)) == expected


@pytest.mark.parametrize("kind", sorted(VALID))
def test_text_frames_decode_like_bytes(kind: str):
    obj, expected = VALID[kind]
    assert p.decode(json.dumps(obj)) == expected


def test_optional_fields_take_their_defaults():
    assert p.decode(b'{"type": "hello"}') == p.Hello(id=None, token=None, resume={})
    assert p.decode(b'{"type": "chat.send", "session": "s1", "text": "x"}') == p.ChatSend(
        session="s1", text="x", client_msg_id="", id=None
    )


@pytest.mark.parametrize("rid", ["r", "x" * 64, 0, 2**53])
def test_request_id_may_be_a_short_string_or_a_safe_integer(rid: str | int):
    assert p.decode(frame({"type": "ping", "id": rid})) == p.Ping(id=rid)


@pytest.mark.parametrize("sid", ["a", "A-z_09", "s" * 64])
def test_session_id_of_letters_digits_dash_underscore_up_to_64(sid: str):
    assert p.decode(frame({"type": "offer.accept", "session": sid})) == p.OfferAccept(session=sid)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("obj", "code", "needle"),
    [
        ({"type": "cobrowse.pointer", "session": "s1", "node": 1, "x": 1.5}, "bad_message", "x"),
        ({"type": "cobrowse.pointer", "session": "s1", "node": -1}, "bad_message", "node"),
        (
            {"type": "cobrowse.command", "session": "s1", "cmd": "c", "action": "drag", "node": 1},
            "bad_message",
            "action",
        ),
        (
            {
                "type": "cobrowse.command",
                "session": "s1",
                "cmd": "c",
                "action": "input",
                "node": 1,
                "text": "x" * 2001,
            },
            "too_large",
            "text",
        ),
        (
            {"type": "cobrowse.events", "session": "s1", "batch": 1, "data": ""},
            "bad_message",
            "data",
        ),
        (
            {"type": "cobrowse.events", "session": "s1", "batch": 1, "data": "[]", "parts": 0},
            "bad_message",
            "parts",
        ),
        ({"type": "cobrowse.control", "session": "s1", "action": "steal"}, "bad_message", "action"),
        (
            {"type": "cobrowse.result", "session": "s1", "cmd": "c", "ok": True, "value": "x"},
            "bad_message",
            "value",
        ),
    ],
)
def test_cobrowse_messages_are_checked_field_by_field(obj: dict[str, Any], code: str, needle: str):
    got_code, message = refusal(frame(obj))
    assert got_code == code
    assert needle in message


BAD = [
    # not JSON at all
    pytest.param(b"not json", "bad_json", "message is not valid JSON", id="not-json"),
    pytest.param(b"", "bad_json", "message is not valid JSON", id="empty"),
    pytest.param(b'{"type": "ping"', "bad_json", "message is not valid JSON", id="truncated"),
    pytest.param(b"\xff\xfe", "bad_json", "message is not valid JSON", id="not-utf8"),
    pytest.param(b'{"type":"ping"} x', "bad_json", "message is not valid JSON", id="trailing"),
    # JSON, but not an object with a type
    pytest.param(
        b'[{"type": "ping"}]',
        "bad_message",
        "message must be a JSON object with a type",
        id="array",
    ),
    *(
        pytest.param(
            raw, "bad_message", "message must be a JSON object with a type", id=f"scalar-{raw!r}"
        )
        for raw in (b"3", b'"ping"', b"null", b"true")
    ),
    pytest.param(b"{}", "bad_message", "message has no type", id="no-type"),
    pytest.param(b'{"id": 3}', "bad_message", "message has no type", id="no-type-with-id"),
    pytest.param(b'{"type": null}', "bad_message", "message has no type", id="null-type"),
    pytest.param(
        b'{"type": "chat.shout"}',
        "unknown_type",
        "unknown message type 'chat.shout'",
        id="unknown-type",
    ),
    pytest.param(b'{"type": 5}', "unknown_type", "unknown message type '5'", id="numeric-type"),
    pytest.param(
        frame({"type": "x" * 100}),
        "unknown_type",
        f"unknown message type {'x' * 40!r}",
        id="long-unknown-type-is-cut",
    ),
    # schema
    pytest.param(
        frame({"type": "chat.send", "text": "hi"}),
        "bad_message",
        "chat.send: Object missing required field `session`",
        id="missing-field",
    ),
    pytest.param(
        frame({"type": "chat.send", "session": 5, "text": "hi"}),
        "bad_message",
        "chat.send: Expected `str`, got `int` - at `$.session`",
        id="wrong-field-type",
    ),
    pytest.param(
        frame({"type": "chat.typing", "session": "s1", "typing": "yes"}),
        "bad_message",
        "chat.typing: Expected `bool`, got `str` - at `$.typing`",
        id="string-for-bool",
    ),
    pytest.param(
        frame({"type": "ping", "admin": True}),
        "bad_message",
        "ping: Object contains unknown field `admin`",
        id="unknown-field",
    ),
    pytest.param(
        frame({"type": "offer.accept", "session": "s 1"}),
        "bad_message",
        "offer.accept: Expected `str` matching regex '^[A-Za-z0-9_-]+$' - at `$.session`",
        id="session-bad-characters",
    ),
    pytest.param(
        frame({"type": "offer.accept", "session": "../s1"}),
        "bad_message",
        "offer.accept: Expected `str` matching regex '^[A-Za-z0-9_-]+$' - at `$.session`",
        id="session-path",
    ),
    pytest.param(
        frame({"type": "offer.accept", "session": ""}),
        "bad_message",
        "offer.accept: Expected `str` of length >= 1 - at `$.session`",
        id="session-empty",
    ),
    pytest.param(
        frame({"type": "offer.accept", "session": "s" * 65}),
        "too_large",
        "offer.accept: Expected `str` of length <= 64 - at `$.session`",
        id="session-too-long",
    ),
    pytest.param(
        frame({"type": "hello", "resume": {"bad id": 1}}),
        "bad_message",
        "hello: Expected `str` matching regex '^[A-Za-z0-9_-]+$' - at `key` in `$.resume`",
        id="resume-bad-session-id",
    ),
    pytest.param(
        frame({"type": "hello", "resume": {f"s{i}": 1 for i in range(65)}}),
        "too_large",
        "hello: Expected `object` of length <= 64 - at `$.resume`",
        id="resume-too-many",
    ),
    pytest.param(
        frame({"type": "hello", "resume": {"s1": -1}}),
        "bad_message",
        "hello: Expected `int` >= 0 - at `$.resume[...]`",
        id="resume-negative-seq",
    ),
    pytest.param(
        frame({"type": "ping", "id": True}),
        "bad_message",
        "ping: Expected `int | str | null`, got `bool` - at `$.id`",
        id="bool-id",
    ),
    pytest.param(
        frame({"type": "ping", "id": -1}),
        "bad_message",
        "ping: Expected `int` >= 0 - at `$.id`",
        id="negative-id",
    ),
    pytest.param(
        frame({"type": "ping", "id": "x" * 65}),
        "too_large",
        "ping: Expected `str` of length <= 64 - at `$.id`",
        id="long-id",
    ),
    pytest.param(
        frame({"type": "chat.receipt", "session": "s1", "seq": 0, "state": "read"}),
        "bad_message",
        "chat.receipt: Expected `int` >= 1 - at `$.seq`",
        id="receipt-seq-zero",
    ),
    pytest.param(
        frame({"type": "chat.receipt", "session": "s1", "seq": 1, "state": "seen"}),
        "bad_message",
        "chat.receipt: Invalid enum value 'seen' - at `$.state`",
        id="receipt-bad-state",
    ),
    pytest.param(
        frame({"type": "agent.status", "status": "sleeping"}),
        "bad_message",
        "agent.status: Invalid enum value 'sleeping' - at `$.status`",
        id="bad-presence",
    ),
    pytest.param(
        frame({"type": "channel.request", "session": "s1", "channel": "fax"}),
        "bad_message",
        "channel.request: Invalid enum value 'fax' - at `$.channel`",
        id="bad-channel",
    ),
    pytest.param(
        frame({"type": "session.transfer", "session": "s1", "to_agent": "a" * 201}),
        "too_large",
        "session.transfer: Expected `str` of length <= 200 - at `$.to_agent`",
        id="long-transfer-target",
    ),
    pytest.param(
        frame({"type": "session.complete", "session": "s1", "notes": "n" * 4001}),
        "too_large",
        "session.complete: Expected `str` of length <= 4000 - at `$.notes`",
        id="long-notes",
    ),
    pytest.param(
        frame({"type": "chat.send", "session": "s1", "text": "hi", "client_msg_id": "c" * 65}),
        "too_large",
        "chat.send: Expected `str` of length <= 64 - at `$.client_msg_id`",
        id="long-client-msg-id",
    ),
    pytest.param(
        frame({"type": "hello", "token": "t" * 4097}),
        "too_large",
        "hello: Expected `str` of length <= 4096 - at `$.token`",
        id="long-token",
    ),
    # chat text
    pytest.param(
        frame({"type": "chat.send", "session": "s1", "text": ""}),
        "bad_message",
        "chat.send: Expected `str` of length >= 1 - at `$.text`",
        id="empty-chat",
    ),
    *(
        pytest.param(
            frame({"type": "chat.send", "session": "s1", "text": blank}),
            "bad_message",
            "chat text is empty",
            id=f"blank-chat-{i}",
        )
        for i, blank in enumerate([" ", "  \n\t ", "\u3000\u00a0"])
    ),
]


@pytest.mark.parametrize(("raw", "code", "message"), BAD)
def test_bad_input_is_refused_with_its_code_and_message(raw: bytes, code: str, message: str):
    assert refusal(raw) == (code, message)


def test_a_message_type_is_case_sensitive():
    assert refusal(b'{"type": "PING"}') == ("unknown_type", "unknown message type 'PING'")


# ---------------------------------------------------------------- size limits


def chat(text: str) -> bytes:
    return frame({"type": "chat.send", "session": "s1", "text": text})


def test_chat_text_is_limited_in_utf8_bytes_not_characters():
    """6000 Korean syllables are 18000 bytes: over the limit though under 16384 characters."""
    assert refusal(chat("한" * 6000)) == (
        "too_large",
        "chat text is 18000 bytes; the limit is 16384",
    )


def test_chat_text_of_exactly_the_byte_limit_is_accepted():
    msg = p.decode(chat("a" * p.MAX_CHAT_BYTES))
    assert isinstance(msg, p.ChatSend) and len(msg.text) == p.MAX_CHAT_BYTES


def test_chat_text_one_byte_over_the_limit_is_refused():
    assert refusal(chat("a" * (p.MAX_CHAT_BYTES + 1))) == (
        "too_large",
        "chat text is 16385 bytes; the limit is 16384",
    )


def test_multibyte_chat_text_just_under_the_byte_limit_is_accepted():
    text = "한" * (p.MAX_CHAT_BYTES // 3)  # 16383 bytes
    assert p.decode(chat(text)) == p.ChatSend(session="s1", text=text)


def test_escaped_chat_text_is_measured_after_decoding():
    """``\\uD55C`` on the wire is one three-byte character in the text."""
    raw = json.dumps({"type": "chat.send", "session": "s1", "text": "한" * 6000}).encode()
    assert raw.isascii()
    assert refusal(raw) == ("too_large", "chat text is 18000 bytes; the limit is 16384")


def test_frame_over_the_limit_is_refused_before_parsing():
    raw = b"[" * (p.MAX_FRAME_BYTES + 1)
    assert refusal(raw) == ("too_large", "message is 65537 bytes; the limit is 65536")


def test_text_frame_size_is_counted_in_utf8_bytes():
    text = chat("한" * 22000)  # 66000 bytes of text alone
    assert refusal(text.decode()) == (
        "too_large",
        f"message is {len(text)} bytes; the limit is 65536",
    )


def test_frame_of_exactly_the_limit_is_parsed():
    padding = p.MAX_FRAME_BYTES - len(frame({"type": "ping", "id": ""}))
    raw = frame({"type": "ping", "id": "x" * padding})
    assert len(raw) == p.MAX_FRAME_BYTES
    code, _ = refusal(raw)
    assert code == "too_large"  # the id is too long, but the frame itself was read
    assert p.request_id(raw) is None


# ---------------------------------------------------------------- request id echo


@pytest.mark.parametrize(
    ("raw", "rid"),
    [
        (b'{"type": "chat.shout", "id": "r-9"}', "r-9"),
        (b'{"type": "chat.send", "id": 12}', 12),
        (b'{"type": "ping", "id": 0, "extra": 1}', 0),
        (b'{"id": "no-type"}', "no-type"),
        (frame({"type": "x", "id": "i" * 64}), "i" * 64),
        (frame({"type": "x", "id": 2**53}), 2**53),
        (frame({"type": "x", "id": "i" * 65}), None),
        (frame({"type": "x", "id": 2**53 + 1}), None),
        (b'{"type": "x", "id": -1}', None),
        (b'{"type": "x", "id": true}', None),
        (b'{"type": "x", "id": 1.5}', None),
        (b'{"type": "x", "id": null}', None),
        (b'{"type": "x", "id": ["r"]}', None),
        (b'{"type": "x"}', None),
        (b'{"type": "x", "id": "r-1"', None),
        (b"[1, 2]", None),
        (b"not json", None),
    ],
)
def test_request_id_is_echoed_from_broken_frames_when_it_is_valid(raw: bytes, rid: object):
    assert p.request_id(raw) == rid


def test_request_id_reads_text_frames():
    assert p.request_id('{"type": "nope", "id": "r-2"}') == "r-2"


# ---------------------------------------------------------------- outbound


def test_reply_echoes_the_id_with_its_data():
    assert p.reply("r-1", pong=5) == {"type": "ok", "id": "r-1", "pong": 5}


def test_error_carries_code_message_and_id():
    assert p.error("bad_json", "message is not valid JSON", 7) == {
        "type": "error",
        "id": 7,
        "code": "bad_json",
        "message": "message is not valid JSON",
    }


def test_encode_writes_compact_utf8_json():
    assert p.encode({"type": "ok", "text": "안녕"}) == '{"type":"ok","text":"안녕"}'.encode()


# ---------------------------------------------------------------- never anything but ProtocolError


def decode_or_protocol_error(data: str | bytes) -> None:
    try:
        msg = p.decode(data)
    except ProtocolError as exc:
        assert exc.code in ERROR_CODES
        assert exc.message
    else:
        assert isinstance(msg, INBOUND_STRUCTS)


FAST = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = (  # one level of nesting is enough to reach every field type; deeper is slow
    json_scalars
    | st.lists(json_scalars, max_size=3)
    | st.dictionaries(st.text(max_size=6), json_scalars, max_size=3)
)
field_names = st.sampled_from(
    ["type", "id", "session", "text", "client_msg_id", "typing", "seq", "state", "status",
     "to_agent", "to_queue", "disposition", "notes", "channel", "accept", "token", "resume"]
) | st.text(max_size=10)  # fmt: skip
json_objects = st.dictionaries(field_names, json_values, max_size=6) | st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(p.INBOUND_TYPES),
    st.dictionaries(field_names, json_values, max_size=6),
)


@FAST
@given(st.binary(max_size=300) | st.text(max_size=300))
def test_arbitrary_bytes_or_text_decode_or_raise_a_protocol_error(data: bytes | str):
    decode_or_protocol_error(data)


@FAST
@given(json_objects)
def test_arbitrary_json_objects_decode_or_raise_a_protocol_error(obj: dict[str, Any]):
    text = json.dumps(obj)  # NaN and infinities come out as non-JSON tokens: bad_json
    decode_or_protocol_error(text)
    decode_or_protocol_error(text.encode())


@settings(FAST, max_examples=100)
@given(json_objects)
def test_request_id_of_arbitrary_json_is_none_or_a_valid_id(obj: dict[str, Any]):
    rid = p.request_id(json.dumps(obj))
    assert (
        rid is None
        or (isinstance(rid, str) and len(rid) <= 64)
        or (type(rid) is int and 0 <= rid <= 2**53)
    )


# ---------------------------------------------------------------- known bugs


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a":' * 10_000,
        b'{"type": "ping", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    ],
    ids=["nested-objects", "nested-array-in-a-field"],
)
def test_deeply_nested_json_is_a_protocol_error(raw: bytes):
    assert len(raw) < p.MAX_FRAME_BYTES
    with pytest.raises(ProtocolError):
        p.decode(raw)


def test_request_id_of_deeply_nested_json_is_none():
    assert p.request_id(b'{"a":' * 10_000) is None


def test_invalid_utf8_inside_a_string_is_bad_json():
    assert refusal(b'{"type": "ping", "id": "\xff"}') == ("bad_json", "message is not valid JSON")
