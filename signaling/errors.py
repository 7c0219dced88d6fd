"""The error hierarchy of the signaling server.

Every error carries a stable ``code`` that goes on the wire unchanged, and a
human-readable ``message``. The codes are listed in docs/protocol.md.
"""

from __future__ import annotations

ERROR_CODES: dict[str, str] = {
    "bad_json": "the frame is not valid JSON",
    "bad_message": "the message does not match its schema",
    "unknown_type": "no message has this type",
    "too_large": "a field or the message is over its size limit",
    "rate_limited": "too many messages; slow down",
    "unauthorized": "no valid credentials",
    "forbidden": "the role may not do this",
    "not_found": "no such session, entry or user",
    "wrong_state": "not allowed in the session's current state",
    "not_assigned": "the session is not assigned or offered to this agent",
    "channel_state": "the channel is not in a state that allows this",
    "capacity": "the agent has no free capacity",
    "conflict": "the record changed under the request; retry",
    "unavailable": "the live store or archive is unavailable; retry later",
    "origin": "the Origin header is not on the allowlist",
    "policy": "refused by the entry's access rules; `reason` names the rule",
    "consent": "a media source was sent without an agreed channel for it",
    "recording_state": "recording is not in a state that allows this",
    "recording_off": "the entry's recording policy does not record this session",
    "recording_required": "the customer declined a recording the entry requires beyond chat",
    "bad_range": "the Range header cannot be satisfied",
    "bad_filter": "a QA list filter is not valid; the message names the field",
    "control_state": "remote control of the co-browsed page is not in a state that allows this",
    "cobrowse_limit": "a co-browse batch or the session's co-browse stream is over its size cap",
    "bad_sdp": "the SDP offer is malformed or offers nothing the server can use",
    "method_not_allowed": "the HTTP route does not take this method; Allow lists those it does",
    "internal": "an unexpected server error; it was logged",
}


class LivedeskError(Exception):
    """Base class: a failure with a stable wire code."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:  # programming error, never user input
            raise ValueError(f"undocumented error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"


class ProtocolError(LivedeskError):
    """An inbound message could not be decoded or is over a limit."""


class InteractionError(LivedeskError):
    """A command is not legal for the session's state or the actor's role."""


class AuthError(LivedeskError):
    """Credentials are missing, invalid, expired or lack the role."""


class PolicyRefusal(LivedeskError):
    """An entry rule refuses this customer this channel now; ``reason`` is the rule's code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__("policy", message)
        self.reason = reason


class MediaRefusal(LivedeskError):
    """A media request was refused: ``consent``, ``bad_sdp`` or ``not_found``."""


class StoreError(LivedeskError):
    """The live store failed or is unreachable."""


class RateLimited(LivedeskError):
    """Too many attempts: ``retry_after_s`` says when to try again (HTTP 429)."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__("rate_limited", message)
        self.retry_after_s = retry_after_s


class ConfigError(Exception):
    """Invalid configuration; the message names the key and the bad value."""

    def __init__(self, key: str, value: object, why: str) -> None:
        super().__init__(f"config error: {key} = {value!r}: {why}")
        self.key = key
        self.value = value
        self.why = why
