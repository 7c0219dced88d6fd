"""The media plane's pure pieces: the aiortc seam check, SDP first look, forwarding queues."""

from __future__ import annotations

import asyncio

import aiortc
import pytest

from visual import seam
from visual.errors import SeamMismatch
from visual.forward import Outlet, Publication
from visual.sdp import SdpError, ice_ufrag, parse_sections
from visual.seam import EncodedFrame, is_keyframe

# ---------------------------------------------------------------- the seam


def test_the_installed_aiortc_fits_the_encoded_frame_seam():
    seam.check_aiortc()


def test_another_aiortc_release_fails_loudly(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(SeamMismatch, match=r"aiortc 1\.17\.0 is installed"):
        seam.check_aiortc()


def test_a_changed_receiver_fails_loudly(monkeypatch: pytest.MonkeyPatch):
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    real = seam.inspect.getsource

    def source(obj: object) -> str:
        text = real(obj)  # type: ignore[arg-type]
        return text.replace("__decoder_queue", "__frames") if obj is RTCRtpReceiver else text

    monkeypatch.setattr(seam.inspect, "getsource", source)
    with pytest.raises(SeamMismatch, match="RTCRtpReceiver no longer contains"):
        seam.check_aiortc()


@pytest.mark.parametrize(
    ("mime", "data", "key"),
    [
        ("video/VP8", b"\x10\x02\x00\x9d\x01\x2a", True),  # frame tag bit 0 clear
        ("video/VP8", b"\x11\x02\x00", False),
        ("video/VP8", b"", False),
        ("audio/opus", b"\x01", True),
        ("video/H264", b"\x00\x00\x00\x01\x67\x42\x00\x00\x00\x01\x65\x88", True),
        ("video/H264", b"\x00\x00\x00\x01\x41\x9a", False),
    ],
)
def test_keyframes_are_recognised_per_codec(mime: str, data: bytes, key: bool):
    assert is_keyframe(mime, data) is key


# ---------------------------------------------------------------- SDP first look

OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 1 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "a=mid:0",
        "a=ice-ufrag:abcd",
        "a=sendrecv",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "a=mid:1",
        "a=sendonly",
        "m=video 0 UDP/TLS/RTP/SAVPF 96",
        "a=mid:2",
        "a=recvonly",
        "",
    ]
)


def test_an_offer_lists_its_sections_with_direction():
    sections = parse_sections(OFFER)
    assert [(s.mid, s.kind, s.direction, s.port) for s in sections] == [
        ("0", "audio", "sendrecv", 9),
        ("1", "video", "sendonly", 9),
        ("2", "video", "recvonly", 0),
    ]
    assert sections[1].offerer_sends and not sections[1].offerer_receives
    assert not sections[2].offerer_receives  # port 0: rejected section
    assert ice_ufrag(OFFER) == "abcd"


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("", "an SDP must start with v=0"),
        ("v=1\r\n", "an SDP must start with v=0"),
        ("v=0\r\nhello\r\n", "line 2 is not of the form x=..."),
        ("v=0\r\nm=video\r\n", "line 2: an m= line needs media, port, proto and formats"),
        ("v=0\r\nm=text 9 RTP/AVP 0\r\na=mid:0\r\n", "line 2: unsupported media 'text'"),
        ("v=0\r\nm=audio 70000 RTP/AVP 0\r\na=mid:0\r\n", "line 2: bad port '70000'"),
        ("v=0\r\nm=audio 9 RTP/AVP 0\r\n", "media section 0 has no a=mid"),
        ("v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:\r\n", "line 3: bad mid ''"),
        ("v=0\r\na=x\x00y\r\n", "line 2 contains a NUL byte"),
        ("v=0\r\ns=-\r\n", "the offer has no media sections"),
        (
            "v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n",
            "two media sections share a mid",
        ),
        ("v=0\r\n" + "a=x\r\n" * 20000, "the SDP is over 65536 bytes"),
    ],
)
def test_a_malformed_offer_is_refused_with_an_exact_message(sdp: str, message: str):
    with pytest.raises(SdpError) as err:
        parse_sections(sdp)
    assert str(err.value) == message


def test_every_truncation_of_a_real_offer_is_parsed_or_refused_cleanly():
    for n in range(len(OFFER)):
        try:
            parse_sections(OFFER[:n])
        except SdpError:
            pass


# ---------------------------------------------------------------- forwarding


def frame(i: int, *, key: bool = False, kind: str = "video") -> EncodedFrame:
    mime, rate = ("video/VP8", 90_000) if kind == "video" else ("audio/opus", 48_000)
    return EncodedFrame(bytes([i % 256]) * 10, i * 3000, key, mime, rate)


def publication(kind: str = "video") -> tuple[Publication, list[int]]:
    asked: list[int] = []

    async def ask() -> bool:
        asked.append(1)
        return True

    return Publication("p1", owner="o", source="camera", kind=kind, ask_keyframe=ask), asked


async def test_a_new_viewer_waits_for_a_keyframe_and_asks_for_one():
    pub, asked = publication()
    out = Outlet("video")
    out.bind(pub)
    await asyncio.sleep(0)
    assert asked == [1]
    pub.on_frame(frame(1))
    pub.on_frame(frame(2))
    pub.on_frame(frame(3, key=True))
    pub.on_frame(frame(4))
    first = await out.recv()
    second = await out.recv()
    assert (bytes(first), bytes(second)) == (frame(3).data, frame(4).data)
    assert first.pts == 0 and second.pts == 3000
    assert out.dropped == 2


async def test_a_viewer_that_falls_behind_drops_its_backlog_and_waits_for_a_keyframe():
    pub, asked = publication()
    out = Outlet("video", max_frames=4)
    out.bind(pub)
    pub.on_frame(frame(0, key=True))
    for i in range(1, 10):
        pub.on_frame(frame(i))
    assert len(out._queue) <= 4  # bounded: memory does not grow with an idle viewer
    pub.on_frame(frame(10, key=True))
    await asyncio.sleep(0.6)  # keyframe requests are coalesced, not lost
    got = await out.recv()
    assert bytes(got) == frame(10).data
    assert out.keyframe_waits >= 1 and len(asked) >= 2


async def test_audio_drops_only_its_oldest_frames():
    pub, _ = publication("audio")
    out = Outlet("audio", max_frames=3)
    out.bind(pub)
    for i in range(5):
        pub.on_frame(frame(i, kind="audio"))
    got = [bytes(await out.recv()) for _ in range(3)]
    assert got == [frame(i).data for i in (2, 3, 4)]


async def test_keyframe_requests_are_coalesced():
    pub, asked = publication()
    for _ in range(20):
        pub.request_keyframe()
    await asyncio.sleep(0.05)
    assert len(asked) == 1
    await asyncio.sleep(0.6)
    assert len(asked) == 2  # one more, after the minimum interval


async def test_rebinding_keeps_timestamps_rising():
    a, _ = publication()
    b, _ = publication()
    out = Outlet("video")
    out.bind(a)
    a.on_frame(EncodedFrame(b"\x10a", 900_000, True, "video/VP8", 90_000))
    p1 = await out.recv()
    out.bind(b)
    b.on_frame(EncodedFrame(b"\x10b", 5, True, "video/VP8", 90_000))
    p2 = await out.recv()
    assert p2.pts > p1.pts


async def test_a_stopped_outlet_ends_its_track():
    from aiortc.mediastreams import MediaStreamError

    out = Outlet("audio")
    out.stop()
    with pytest.raises(MediaStreamError):
        await out.recv()


async def test_a_closed_publication_unbinds_its_viewers():
    pub, _ = publication()
    out = Outlet("video")
    out.bind(pub)
    pub.close()
    assert out.publication is None and pub.viewers == 0


def test_the_bitrate_advert_names_the_cap_once_a_second():
    advert = seam.BitrateAdvert(2_500_000)
    first = advert.add(arrival_time_ms=10_000, abs_send_time=0, payload_size=1200, ssrc=7)
    assert first == (2_500_000, [7])
    assert advert.add(arrival_time_ms=10_500, abs_send_time=0, payload_size=1200, ssrc=7) is None
    assert advert.add(arrival_time_ms=11_000, abs_send_time=0, payload_size=1200, ssrc=7)


async def test_a_keyframe_request_names_the_media_ssrc_not_the_retransmission_one():
    """Browsers send RTX padding first; a PLI to the RTX SSRC would be ignored."""

    class Receiver:
        _RTCRtpReceiver__rtx_ssrc = {735954850: 2751221961}
        sent: list[int] = []

        def getSynchronizationSources(self) -> list:
            return [Source(735954850), Source(2751221961)]

        async def _send_rtcp_pli(self, ssrc: int) -> None:
            self.sent.append(ssrc)

    class Source:
        def __init__(self, ssrc: int) -> None:
            self.source = ssrc

    receiver = Receiver()
    assert await seam.request_keyframe(receiver)  # type: ignore[arg-type]
    assert receiver.sent == [2751221961]


def test_a_clip_can_be_read_from_a_webm_file_with_its_packets_untouched(tmp_path):
    """Clients can publish a recorded file as it is: the packets are not re-encoded."""
    from fractions import Fraction

    import av

    from visual.sources import clip_from_file, frame_digest, synthetic_video

    made = synthetic_video(seconds=1, width=160, height=120, bitrate=100_000)
    path = tmp_path / "clip.webm"
    with av.open(str(path), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=30)
        stream.width, stream.height = 160, 120
        for i, f in enumerate(made.frames):
            packet = av.Packet(f.data)
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = stream.time_base = Fraction(1, 30)
            if f.keyframe:
                packet.is_keyframe = True
            out.mux(packet)
    clip = clip_from_file(path, "video")
    assert (clip.kind, clip.codec, clip.clock_rate, clip.frame_ticks) == (
        "video",
        "VP8",
        90_000,
        3000,
    )
    assert [frame_digest(f.data) for f in clip.frames] == [
        frame_digest(f.data) for f in made.frames
    ]
    assert clip.frames[0].keyframe


def packet(seq: int, timestamp: int, *, marker: bool = False) -> aiortc.rtp.RtpPacket:
    p = aiortc.rtp.RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp)
    p.marker = marker
    p._data = bytes([0x10, seq & 0xFF])  # type: ignore[attr-defined]
    return p


def test_a_gap_in_sequence_numbers_between_frames_is_reported_as_a_loss():
    """The marker jitter buffer numbers each frame; the tap flags the frame after a gap."""
    buf = seam.MarkerJitterBuffer(capacity=128, is_video=True)
    got: list[EncodedFrame] = []
    tap = seam._Tap(got.append)
    codec = aiortc.RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000, payloadType=96)
    # two frames, then packets 4-6 never arrive; one-packet frames follow until the
    # buffer gives up waiting for them (past its capacity) and moves on
    specs = [(1, 0, False), (2, 0, True), (3, 3000, True)]
    specs += [(seq, seq * 3000, True) for seq in range(7, 300)]
    for seq, ts, marker in specs:
        _, frame = buf.add(packet(seq, ts, marker=marker))
        if frame is not None:
            tap.put((codec, frame))
    assert [f.timestamp for f in got[:2]] == [0, 3000]
    assert len(got) > 100
    assert [f.after_loss for f in got] == [False, False, True] + [False] * (len(got) - 3)
