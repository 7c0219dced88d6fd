"""Malformed SDP: mutations of real offers, for ``media.offer``.

The bases are real artefacts in ``tests/fixtures/sdp/``: an offer from Chromium (fake
camera and microphone, sending audio and video, receiving one of each) and one from
aiortc. A case is a base plus a few mutations; each mutation names its line by a
number taken modulo the line count, so hypothesis can shrink it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.fuzzing.values import NOT_UTF8, Raw

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sdp"
OFFERS = {name: (FIXTURES / f"{name}_offer.sdp").read_text() for name in ("chromium", "aiortc")}
"""name -> SDP text (CRLF line ends, as browsers send it)."""

SENDS = {"chromium": {"0": "mic", "1": "camera"}, "aiortc": {"0": "mic", "1": "camera"}}
"""What each base offer sends, by mid (its other sections only receive)."""

_DIGITS = {
    # digits str.isdigit() accepts, from scripts other than ASCII (superscripts: int() fails)
    name: str.maketrans("0123456789", "".join(chr(c) for c in codes))
    for name, codes in (
        ("arabic", range(0x0660, 0x066A)),
        ("fullwidth", range(0xFF10, 0xFF1A)),
        ("superscript", (0x2070, 0xB9, 0xB2, 0xB3, *range(0x2074, 0x207A))),
    )
}

HUGE_NUMBERS = ["4294967296", "99999999999999999999999", "-1", "65536", "1e9", "0", "00000000001"]
FMTP_GARBAGE = [
    "profile-level-id=zzzzzz;packetization-mode=9",
    "apt=999999",
    "max-fs=-1;max-fr=1e999",
    "=;=;;==",
    "minptime=10;useinbandfec=1;" * 200,
    "x" * 3000,
    "111/111/111/111",
    "",
]
UNKNOWN_ATTRIBUTES = [
    "x-livedesk-unknown:1",
    "foo",
    "extmap:300 urn:x",
    "extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid",
    "rtpmap:96",
    "rtpmap:96 VP8",
    "rtpmap:abc VP8/90000",
    "rtpmap:96 VP8/notaclock",
    "rtcp-fb:* nack",
    "ssrc:abc cname:x",
    "ssrc-group:FID 1",
    "ssrc-group:FID",
    "rid:1 send",
    "simulcast:send 1;2;3",
    "candidate:1 1 udp 1 999.999.999.999 99999 typ host",
    "candidate:garbage",
    "candidate:1 1 udp 2122260223 127.0.0.1 9 typ relay raddr x rport y",
    "fingerprint:sha-256 ZZ",
    "fingerprint:md5 00",
    "setup:nonsense",
    "ice-ufrag:",
    "ice-pwd:",
    "ice-options:trickle renomination",
    "group:BUNDLE 7 8 9",
    "mid:",
    "mid:" + "m" * 40,
    "msid:- -",
    "sctp-port:99999",
    "max-message-size:-5",
    "rtcp:99999 IN IP4 nowhere",
    "end-of-candidates",
]
M_LINES = [
    "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "m=audio 9 RTP/AVP 0",
    "m=text 9 UDP/TLS/RTP/SAVPF 96",
    "m=video 70000 UDP/TLS/RTP/SAVPF 96",
    "m=video 9 UDP/TLS/RTP/SAVPF",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "m=video 9/2 UDP/TLS/RTP/SAVPF 96",
    "m=audio -1 UDP/TLS/RTP/SAVPF 111",
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 " + " ".join(str(i) for i in range(200)),
    "m=",
]


@dataclass(frozen=True)
class SdpCase:
    """A base offer and the mutations made to it."""

    base: str
    ops: tuple[tuple[Any, ...], ...]

    def lines(self) -> list[str]:
        return OFFERS[self.base].split("\r\n")

    def render(self) -> str | Raw:
        """The mutated SDP: text, or ``Raw`` JSON string bytes when a mutation put bytes
        that are not UTF-8 in it."""
        lines = self.lines()
        eol = "\r\n"
        bad_bytes: list[tuple[int, bytes]] = []
        for op in self.ops:
            name, args = op[0], op[1:]
            n = max(1, len(lines))
            if name == "truncate_lines":
                lines = lines[: args[0] % n]
            elif name == "truncate_chars":
                text = eol.join(lines)
                cut = text[: args[0] % max(1, len(text))]
                # an earlier "eol" op may have left no line ending to split on
                lines = cut.split(eol) if eol else [cut]
            elif name == "swap" and lines:
                i, j = args[0] % n, args[1] % n
                lines[i], lines[j] = lines[j], lines[i]
            elif name == "drop" and lines:
                del lines[args[0] % n]
            elif name == "dup" and lines:
                i = args[0] % n
                lines.insert(i, lines[i])
            elif name == "repeat" and lines:
                i = args[0] % n
                lines[i + 1 : i + 1] = [lines[i]] * args[1]
            elif name == "huge" and lines:
                i = args[0] % n
                lines[i] = re.sub(r"\d+", args[1], lines[i])
            elif name == "digits" and lines:
                i = args[0] % n
                lines[i] = lines[i].translate(_DIGITS[args[1]])
            elif name == "fmtp":
                lines.insert(args[0] % n, f"a=fmtp:{args[1]} {args[2]}")
            elif name == "attr":
                lines.insert(args[0] % n, "a=" + args[1])
            elif name == "mline":
                lines.insert(args[0] % n, args[1])
            elif name == "replace" and lines:
                lines[args[0] % n] = args[1]
            elif name == "nul" and lines:
                i = args[0] % n
                pos = args[1] % (len(lines[i]) + 1)
                lines[i] = lines[i][:pos] + "\x00" + lines[i][pos:]
            elif name == "not_utf8":
                bad_bytes.append((args[0], args[1]))  # placed once the lines are final
            elif name == "eol":
                eol = args[0]
        text = eol.join(lines)
        if not bad_bytes or not lines:
            return text
        # inside the JSON string: escape the text, then put the raw bytes at line starts
        marked = list(lines)
        for i, _ in bad_bytes:
            marked[i % len(marked)] = "\ue001" + marked[i % len(marked)]
        quoted = json.dumps(eol.join(marked), ensure_ascii=False).encode()
        for _, data in bad_bytes:
            quoted = quoted.replace("\ue001".encode(), data, 1)
        return Raw(quoted)


_line = st.integers(min_value=0, max_value=10_000)

sdp_ops = st.one_of(
    st.tuples(st.just("truncate_lines"), _line),
    st.tuples(st.just("truncate_chars"), st.integers(0, 50_000)),
    st.tuples(st.just("swap"), _line, _line),
    st.tuples(st.just("drop"), _line),
    st.tuples(st.just("dup"), _line),
    st.tuples(st.just("repeat"), _line, st.sampled_from([2, 20, 200, 2000])),
    st.tuples(st.just("huge"), _line, st.sampled_from(HUGE_NUMBERS)),
    st.tuples(st.just("digits"), _line, st.sampled_from(sorted(_DIGITS))),
    st.tuples(
        st.just("fmtp"),
        _line,
        st.sampled_from(["96", "111", "97", "9999", "abc", "-1"]),
        st.sampled_from(FMTP_GARBAGE) | st.text(max_size=40),
    ),
    st.tuples(st.just("attr"), _line, st.sampled_from(UNKNOWN_ATTRIBUTES) | st.text(max_size=40)),
    st.tuples(st.just("mline"), _line, st.sampled_from(M_LINES)),
    st.tuples(st.just("replace"), _line, st.text(max_size=60)),
    st.tuples(st.just("nul"), _line, st.integers(0, 200)),
    st.tuples(st.just("not_utf8"), _line, st.sampled_from(NOT_UTF8)),
    st.tuples(st.just("eol"), st.sampled_from(["\n", "\r", "\r\r\n", "", " "])),
)

sdp_cases = st.builds(
    SdpCase,
    st.sampled_from(sorted(OFFERS)),
    st.lists(sdp_ops, min_size=0, max_size=4).map(tuple),
)
"""A real offer, as it is (about one case in ten) or with up to four mutations."""

mids = st.sampled_from(["0", "1", "2", "3", "4", "9"]) | st.text(min_size=1, max_size=32)
sources = st.sampled_from(["mic", "camera", "screen"])


def send_lists(base: str) -> st.SearchStrategy[list[dict[str, str]]]:
    """What the offer says it sends: mostly the truth, sometimes not."""
    truth = [{"mid": m, "source": s} for m, s in SENDS[base].items()]
    return st.one_of(
        st.just(truth),
        st.just(truth[:1]),
        st.just([]),
        st.lists(st.fixed_dictionaries({"mid": mids, "source": sources}), max_size=8),
    )


recv_lists: st.SearchStrategy[list[dict[str, str]]] = st.one_of(
    st.just([]),
    st.lists(
        st.fixed_dictionaries(
            {"mid": mids, "pub": st.text(min_size=1, max_size=128) | st.just("customer-x.0.abc")}
        ),
        max_size=12,
    ),
)
