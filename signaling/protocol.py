"""The WebSocket message codec: bytes in, a typed struct or a ProtocolError out.

Every inbound message is a JSON object with a ``type``. Requests may carry an
``id`` (a short string or integer) that the reply echoes. This module does no
I/O; docs/protocol.md describes each message in prose.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from signaling.errors import ProtocolError
from signaling.interaction import Channel
from signaling.routing import Presence

MAX_CHAT_BYTES = 16 * 1024
"""Chat text over this many UTF-8 bytes is refused with ``too_large``."""

MAX_FRAME_BYTES = 64 * 1024
"""A WebSocket frame over this is closed by the server with code 1009."""

RequestId = (
    Annotated[str, msgspec.Meta(max_length=64)] | Annotated[int, msgspec.Meta(ge=0, le=2**53)]
)
SessionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
"""A position in a session's log. Bounded like request ids: past 2^63 the Redis store
refused it as a command argument, and the socket was answered ``unavailable``."""
ShortText = Annotated[str, msgspec.Meta(max_length=200)]
ClientMsgId = Annotated[str, msgspec.Meta(max_length=64)]
Notes = Annotated[str, msgspec.Meta(max_length=4000)]
Token = Annotated[str, msgspec.Meta(max_length=4096)]


class _Msg(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, frozen=True):
    pass


class Hello(_Msg, tag="hello", frozen=True):
    """First message on a connection. ``resume`` maps session id to the last seq seen."""

    id: RequestId | None = None
    token: Token | None = None
    resume: Annotated[dict[SessionId, Seq], msgspec.Meta(max_length=64)] = {}


class Ping(_Msg, tag="ping", frozen=True):
    id: RequestId | None = None


class ChatSend(_Msg, tag="chat.send", frozen=True):
    session: SessionId
    # the byte limit is checked after decoding so that it gets its own code
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CHAT_BYTES * 4)]
    client_msg_id: ClientMsgId = ""
    id: RequestId | None = None


class ChatTyping(_Msg, tag="chat.typing", frozen=True):
    session: SessionId
    typing: bool
    id: RequestId | None = None


class ChatReceipt(_Msg, tag="chat.receipt", frozen=True):
    """The sender's messages up to ``seq`` were delivered to, or read by, this client."""

    session: SessionId
    seq: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    state: Literal["delivered", "read"]
    id: RequestId | None = None


class AgentStatus(_Msg, tag="agent.status", frozen=True):
    status: Presence
    id: RequestId | None = None


class OfferAccept(_Msg, tag="offer.accept", frozen=True):
    session: SessionId
    id: RequestId | None = None


class OfferDecline(_Msg, tag="offer.decline", frozen=True):
    session: SessionId
    id: RequestId | None = None


class SessionTransfer(_Msg, tag="session.transfer", frozen=True):
    session: SessionId
    to_agent: ShortText | None = None
    to_queue: ShortText | None = None
    id: RequestId | None = None


class SessionWrapUp(_Msg, tag="session.wrapup", frozen=True):
    session: SessionId
    id: RequestId | None = None


class SessionComplete(_Msg, tag="session.complete", frozen=True):
    session: SessionId
    disposition: ShortText = ""
    notes: Notes = ""
    id: RequestId | None = None


class SessionLeave(_Msg, tag="session.leave", frozen=True):
    session: SessionId
    id: RequestId | None = None


class SessionWatch(_Msg, tag="session.watch", frozen=True):
    """A supervisor follows a session's timeline without taking part."""

    session: SessionId
    id: RequestId | None = None


class ChannelRequest(_Msg, tag="channel.request", frozen=True):
    session: SessionId
    channel: Channel
    sharer: Literal["customer", "agent"] | None = None
    id: RequestId | None = None


class ChannelRespond(_Msg, tag="channel.respond", frozen=True):
    session: SessionId
    channel: Channel
    accept: bool
    id: RequestId | None = None


class ChannelStop(_Msg, tag="channel.stop", frozen=True):
    session: SessionId
    channel: Channel
    id: RequestId | None = None


MAX_SDP_CHARS = 48 * 1024
Mid = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
MediaSource = Literal["mic", "camera", "screen"]


class SendSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mid: Mid
    source: MediaSource


class RecvSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    mid: Mid
    pub: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class MediaConfig(_Msg, tag="media.config", frozen=True):
    session: SessionId
    id: RequestId | None = None


class MediaOffer(_Msg, tag="media.offer", frozen=True):
    """A complete SDP offer (after ICE gathering) and what each media section carries."""

    session: SessionId
    sdp: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SDP_CHARS)]
    send: Annotated[list[SendSpec], msgspec.Meta(max_length=8)] = []
    recv: Annotated[list[RecvSpec], msgspec.Meta(max_length=12)] = []
    id: RequestId | None = None


class MediaMute(_Msg, tag="media.mute", frozen=True):
    session: SessionId
    source: MediaSource
    muted: bool
    id: RequestId | None = None


class MediaHangup(_Msg, tag="media.hangup", frozen=True):
    session: SessionId
    id: RequestId | None = None


class RecordingRequest(_Msg, tag="recording.request", frozen=True):
    """The agent asks both sides to agree to recording (entries with ``on_request``)."""

    session: SessionId
    id: RequestId | None = None


class RecordingRespond(_Msg, tag="recording.respond", frozen=True):
    session: SessionId
    accept: bool
    id: RequestId | None = None


class RecordingPause(_Msg, tag="recording.pause", frozen=True):
    session: SessionId
    id: RequestId | None = None


class RecordingResume(_Msg, tag="recording.resume", frozen=True):
    session: SessionId
    id: RequestId | None = None


class RecordingStop(_Msg, tag="recording.stop", frozen=True):
    session: SessionId
    id: RequestId | None = None


# ---------------------------------------------------------------- co-browse
#
# The customer's browser records its page with rrweb (masked there) and sends the events
# in batches; the server relays them, opaque, to the agent and the recording. The agent
# points, highlights and (with control) clicks, scrolls and types by rrweb node id.

NodeId = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
CommandId = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
Pixels = Annotated[float, msgspec.Meta(ge=-100_000, le=100_000)]
PageId = Annotated[str, msgspec.Meta(max_length=32)]
"""Which page load the node ids belong to (rrweb numbers nodes afresh on every page)."""


class CobrowseEvents(_Msg, tag="cobrowse.events", frozen=True):
    """A batch of rrweb events as JSON text, or part ``part`` of ``parts`` of one."""

    session: SessionId
    batch: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    data: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FRAME_BYTES)]
    part: Annotated[int, msgspec.Meta(ge=0, le=4095)] = 0
    parts: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 1
    snapshot: bool = False
    id: RequestId | None = None


class CobrowseSnapshot(_Msg, tag="cobrowse.snapshot", frozen=True):
    """A viewer asks for a fresh full snapshot (joined late, reconnected, fell behind)."""

    session: SessionId
    id: RequestId | None = None


class CobrowsePointer(_Msg, tag="cobrowse.pointer", frozen=True):
    """The agent's pointer over node ``node`` at (x, y) as fractions of its box; null hides it."""

    session: SessionId
    node: NodeId | None = None
    x: Fraction = 0.5
    y: Fraction = 0.5
    page: PageId = ""
    id: RequestId | None = None


class CobrowseCommand(_Msg, tag="cobrowse.command", frozen=True):
    """Highlight a node (no control needed), or click, scroll or type with control."""

    session: SessionId
    cmd: CommandId
    action: Literal["highlight", "click", "scroll", "input"]
    node: NodeId
    page: PageId = ""
    text: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    dx: Pixels = 0.0
    dy: Pixels = 0.0
    id: RequestId | None = None


class CobrowseResult(_Msg, tag="cobrowse.result", frozen=True):
    """The customer's page carried out (``ok``) or refused command ``cmd``."""

    session: SessionId
    cmd: CommandId
    ok: bool
    selector: Annotated[str, msgspec.Meta(max_length=300)] = ""
    code: Annotated[str, msgspec.Meta(max_length=40)] = ""
    masked: bool = False
    id: RequestId | None = None


class CobrowseControl(_Msg, tag="cobrowse.control", frozen=True):
    """Remote control: the agent ``request``s or ``release``s; the customer ``grant``s,
    ``decline``s or ``revoke``s (the button or Esc)."""

    session: SessionId
    action: Literal["request", "grant", "decline", "revoke", "release"]
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""
    id: RequestId | None = None


Inbound = (
    Hello
    | Ping
    | ChatSend
    | ChatTyping
    | ChatReceipt
    | AgentStatus
    | OfferAccept
    | OfferDecline
    | SessionTransfer
    | SessionWrapUp
    | SessionComplete
    | SessionLeave
    | SessionWatch
    | ChannelRequest
    | ChannelRespond
    | ChannelStop
    | MediaConfig
    | RecordingRequest
    | RecordingRespond
    | RecordingPause
    | RecordingResume
    | RecordingStop
    | MediaOffer
    | MediaMute
    | MediaHangup
    | CobrowseEvents
    | CobrowseSnapshot
    | CobrowsePointer
    | CobrowseCommand
    | CobrowseResult
    | CobrowseControl
)

INBOUND_TYPES: tuple[str, ...] = tuple(t.__struct_config__.tag for t in Inbound.__args__)

_decoder = msgspec.json.Decoder(Inbound)
_probe = msgspec.json.Decoder(dict[str, Any])
_encoder = msgspec.json.Encoder()


def _bytes(data: str | bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    # lone surrogates cannot be encoded; they become U+FFFD rather than an exception
    return data.encode("utf-8", "replace")


def decode(data: str | bytes) -> Inbound:
    """Decode one inbound frame, or raise ProtocolError with a stable code."""
    raw = _bytes(data)
    if len(raw) > MAX_FRAME_BYTES:
        raise ProtocolError(
            "too_large", f"message is {len(raw)} bytes; the limit is {MAX_FRAME_BYTES}"
        )
    try:
        msg = _decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise _classify(raw, exc) from None
    except (RecursionError, UnicodeDecodeError):
        # msgspec recurses per nesting level; a deep enough array exhausts the stack
        raise ProtocolError("bad_json", "message is not valid JSON") from None
    if isinstance(msg, ChatSend):
        size = len(msg.text.encode())
        if size > MAX_CHAT_BYTES:
            raise ProtocolError(
                "too_large", f"chat text is {size} bytes; the limit is {MAX_CHAT_BYTES}"
            )
        if not msg.text.strip():
            raise ProtocolError("bad_message", "chat text is empty")
    return msg


def _classify(raw: bytes, exc: msgspec.DecodeError) -> ProtocolError:
    if not isinstance(exc, msgspec.ValidationError):
        return ProtocolError("bad_json", "message is not valid JSON")
    try:
        obj = _probe.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return ProtocolError("bad_message", "message must be a JSON object with a type")
    kind = obj.get("type")
    if kind is None:
        return ProtocolError("bad_message", "message has no type")
    if not isinstance(kind, str) or kind not in INBOUND_TYPES:
        return ProtocolError("unknown_type", f"unknown message type {str(kind)[:40]!r}")
    text = str(exc)
    if "Expected `str` of length <=" in text or "Expected `object` of length <=" in text:
        return ProtocolError("too_large", f"{kind}: {text}")
    return ProtocolError("bad_message", f"{kind}: {text}")


def request_id(data: str | bytes) -> str | int | None:
    """Best-effort ``id`` of a frame that failed to decode, so the error can echo it."""
    try:
        obj = _probe.decode(_bytes(data))
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    rid = obj.get("id")
    if isinstance(rid, str) and len(rid) <= 64:
        return rid
    if isinstance(rid, int) and not isinstance(rid, bool) and 0 <= rid <= 2**53:
        return rid
    return None


# ---------------------------------------------------------------- outbound


def encode(msg: dict[str, Any]) -> bytes:
    return _encoder.encode(msg)


def reply(rid: str | int | None, **data: Any) -> dict[str, Any]:
    """The answer to a request: ``{"type": "ok", "id": ..., ...}``."""
    return {"type": "ok", "id": rid, **data}


def error(code: str, message: str, rid: str | int | None = None) -> dict[str, Any]:
    return {"type": "error", "id": rid, "code": code, "message": message}
