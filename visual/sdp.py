"""A strict first look at an SDP offer, before aiortc parses it.

aiortc's own parser raises assorted exceptions (ValueError, KeyError, IndexError) on
malformed input. This pure check turns the common faults into one :class:`SdpError`
with an exact message, and lists the media sections so that the signaling layer can
match them to the ``send`` and ``recv`` lists of a ``media.offer``.
"""

from __future__ import annotations

from typing import NamedTuple

MAX_SDP_BYTES = 64 * 1024
MAX_SECTIONS = 16
DIRECTIONS = frozenset({"sendrecv", "sendonly", "recvonly", "inactive"})


class SdpError(ValueError):
    """The offer is not an SDP this server can answer."""


class MediaSection(NamedTuple):
    mid: str
    kind: str
    """``audio``, ``video`` or ``application``."""
    direction: str
    """As the offerer sees it: ``sendonly`` means the offerer sends."""
    port: int

    @property
    def offerer_sends(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "sendonly")

    @property
    def offerer_receives(self) -> bool:
        return self.port != 0 and self.direction in ("sendrecv", "recvonly")


def parse_sections(sdp: str) -> list[MediaSection]:
    """The media sections of an offer, in order; raises :class:`SdpError`."""
    if len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
        raise SdpError(f"the SDP is over {MAX_SDP_BYTES} bytes")
    lines = sdp.replace("\r\n", "\n").split("\n")
    if not lines or lines[0].strip() != "v=0":
        raise SdpError("an SDP must start with v=0")
    sections: list[MediaSection] = []
    current: dict[str, str] | None = None
    session_direction = "sendrecv"

    def close() -> None:
        if current is None:
            return
        if "mid" not in current:
            raise SdpError(f"media section {len(sections)} has no a=mid")
        sections.append(
            MediaSection(
                current["mid"],
                current["kind"],
                current.get("direction", session_direction),
                int(current["port"]),
            )
        )

    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
            raise SdpError(f"line {number} is not of the form x=...")
        if "\x00" in line:
            raise SdpError(f"line {number} contains a NUL byte")
        if line.startswith("m="):
            close()
            parts = line[2:].split()
            if len(parts) < 4:
                raise SdpError(f"line {number}: an m= line needs media, port, proto and formats")
            kind, port = parts[0], parts[1].split("/")[0]
            if kind not in ("audio", "video", "application"):
                raise SdpError(f"line {number}: unsupported media {kind!r}")
            if not port.isdigit() or int(port) > 65535:
                raise SdpError(f"line {number}: bad port {parts[1]!r}")
            current = {"kind": kind, "port": port}
            if len(sections) >= MAX_SECTIONS:
                raise SdpError(f"more than {MAX_SECTIONS} media sections")
        elif line.startswith("a="):
            attr = line[2:]
            name, _, value = attr.partition(":")
            if name in DIRECTIONS:
                if current is None:
                    session_direction = name
                else:
                    current["direction"] = name
            elif name == "mid" and current is not None:
                if not value or len(value) > 32:
                    raise SdpError(f"line {number}: bad mid {value!r}")
                current["mid"] = value
    close()
    if not sections:
        raise SdpError("the offer has no media sections")
    mids = [s.mid for s in sections]
    if len(set(mids)) != len(mids):
        raise SdpError("two media sections share a mid")
    return sections


def ice_ufrag(sdp: str) -> str:
    """The first ICE username fragment: a new one means a new client connection."""
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if line.startswith("a=ice-ufrag:"):
            return line[12:].strip()
    return ""
