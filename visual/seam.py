"""The one seam into aiortc: encoded frames out of a receiver, keyframe requests out of a sender.

aiortc decodes every frame it receives and has no public way to hand the encoded frame
on. Its receiver reassembles frames in a jitter buffer and then puts ``(codec, frame)``
on a private queue read by a decoder thread. :func:`tap_receiver` replaces that queue,
before the receiver starts, with a :class:`_Tap` that passes each reassembled frame to a
callback on the event loop and never decodes. The decoder thread aiortc still starts
blocks on the tap until the receiver stops, costing one idle thread per track.

On the sending side aiortc already packetises a pre-encoded ``av.Packet`` without
encoding it, but then ignores keyframe requests (PLI/FIR) from the viewer, because it
only acts on them when it encodes. :func:`on_keyframe_request` routes them to a callback
so that the relay can ask the original sender instead.

Both reach into private names, so :func:`check_aiortc` verifies them against the pinned
aiortc version and fails loudly on a mismatch; the test suite calls it.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import aiortc
from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender

from visual.errors import SeamMismatch

PINNED_AIORTC = "1.16."
"""The aiortc release line this seam was written and tested against."""

_QUEUE_ATTR = "_RTCRtpReceiver__decoder_queue"
_JITTER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_ESTIMATOR_ATTR = "_RTCRtpReceiver__remote_bitrate_estimator"
_RTX_ATTR = "_RTCRtpReceiver__rtx_ssrc"
VIDEO_JITTER_CAPACITY = 512


class EncodedFrame(NamedTuple):
    """One reassembled encoded frame as it arrived, before any decoding."""

    data: bytes
    timestamp: int
    """In units of ``clock_rate``, counted from the track's first frame, unwrapped."""
    keyframe: bool
    mime: str
    """``video/VP8``, ``audio/opus``, ``video/H264``."""
    clock_rate: int
    after_loss: bool = False
    """Video: packets between the previous frame and this one never arrived, so frames
    that depend on what was lost cannot be decoded until the next keyframe."""


def is_keyframe(mime: str, data: bytes) -> bool:
    """Whether a frame can be decoded on its own (always true for audio)."""
    if not mime.startswith("video/"):
        return True
    if not data:
        return False
    codec = mime[6:].upper()
    if codec == "VP8":
        # RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame
        return not data[0] & 0x01
    if codec == "H264":
        return _h264_has_idr(data)
    return False


def _h264_has_idr(data: bytes) -> bool:
    # aiortc hands H.264 over as an Annex B byte stream: NAL units after 00 00 01
    i = data.find(b"\x00\x00\x01")
    while i != -1 and i + 3 < len(data):
        if data[i + 3] & 0x1F == 5:
            return True
        i = data.find(b"\x00\x00\x01", i + 3)
    return False


FrameSink = Callable[[EncodedFrame], None]


_TAPS: weakref.WeakSet[_Tap] = weakref.WeakSet()


def release_taps() -> None:
    """Let every tapped receiver's decoder thread end (at shutdown).

    Such a thread waits for the receiver's stop; a receiver whose connection never
    finished closing would otherwise keep the process from exiting.
    """
    for tap in list(_TAPS):
        tap.stop()


class _Tap:
    """Stands in for the receiver's decoder queue (see the module docstring)."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self._stopped = threading.Event()
        self._last_seq: int | None = None
        _TAPS.add(self)

    def stop(self) -> None:
        self._stopped.set()

    # called on the event loop by RTCRtpReceiver._handle_rtp_packet and __stop_decoder
    def put(self, item: Any) -> None:
        if item is None:
            self._stopped.set()
            return
        codec, jitter_frame = item
        data = bytes(jitter_frame.data)
        mime = codec.mimeType
        # the marker jitter buffer (video) numbers its frames' packets: a gap is a loss
        first = getattr(jitter_frame, "first_seq", None)
        lost = first is not None and self._last_seq is not None
        lost = lost and first != (self._last_seq + 1) % 65536  # type: ignore[operator]
        self._last_seq = getattr(jitter_frame, "last_seq", None)
        self._sink(
            EncodedFrame(
                data,
                jitter_frame.timestamp,
                is_keyframe(mime, data),
                mime,
                codec.clockRate,
                bool(lost),
            )
        )

    # called by aiortc's decoder thread; it gets nothing to decode, only the stop
    def get(self) -> None:
        self._stopped.wait()
        return None


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, releasing a frame as soon as its last packet is in.

    aiortc's buffer knows a frame is complete only when a packet of the *next* frame
    arrives, which holds every frame back by one frame interval (33 ms at 30 fps) at
    each hop. RTP marks the last packet of a video frame (RFC 3551, the marker bit), so
    a contiguous run from the first packet to a marked one is a whole frame. Frames
    whose marked packet is lost are still released the old way, by the next frame.
    """

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        packets: list[Any] = []
        timestamp = None
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]  # type: ignore[operator]
            if packet is None:
                return None
            if timestamp is None:
                timestamp = packet.timestamp
            elif packet.timestamp != timestamp:
                self.remove(count)
                return _numbered(packets, timestamp)
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return _numbered(packets, timestamp)
        return None


def _numbered(packets: list[Any], timestamp: int) -> JitterFrame:
    """A frame of ``packets``, with its first and last RTP sequence numbers."""
    frame = JitterFrame(b"".join(p._data for p in packets), timestamp)
    frame.first_seq = packets[0].sequence_number  # type: ignore[attr-defined]
    frame.last_seq = packets[-1].sequence_number  # type: ignore[attr-defined]
    return frame


class BitrateAdvert:
    """Stands in for aiortc's receive-side bandwidth estimator: advertises a fixed cap.

    A forwarding server's view of the sender's uplink says nothing about the viewers'
    links, and aiortc's estimator, fed by a busy event loop's arrival times, reads
    scheduling jitter as congestion and tells the browser to send at a trickle (Chrome
    then drops a camera to 320 px at a few frames a second). So the server advertises
    the configured ``media.max_bitrate_kbps`` once a second (REMB), and the browser's
    own loss-based control does the rest.
    """

    def __init__(self, bps: int, *, every_ms: int = 1000) -> None:
        self.bps = bps
        self._every_ms = every_ms
        self._last_ms = -every_ms

    def add(
        self, arrival_time_ms: int, abs_send_time: int, payload_size: int, ssrc: int
    ) -> tuple[int, list[int]] | None:
        if arrival_time_ms - self._last_ms < self._every_ms:
            return None
        self._last_ms = arrival_time_ms
        return self.bps, [ssrc]


def tap_receiver(
    receiver: RTCRtpReceiver, sink: FrameSink, *, advertise_bps: int | None = None
) -> None:
    """Send ``receiver``'s encoded frames to ``sink`` instead of decoding them.

    Must be called before the receiver starts (from the ``track`` event or right after
    ``setRemoteDescription``); ``sink`` runs on the event loop and must not block.
    """
    if getattr(receiver, "_livedesk_tapped", False):
        return
    if not hasattr(receiver, _QUEUE_ATTR):
        raise SeamMismatch(f"RTCRtpReceiver has no {_QUEUE_ATTR}; aiortc changed")
    if getattr(receiver, "_RTCRtpReceiver__started", False):
        raise SeamMismatch("the receiver already started decoding; tap it before it starts")
    setattr(receiver, _QUEUE_ATTR, _Tap(sink))
    if receiver._RTCRtpReceiver__kind == "video":  # type: ignore[attr-defined]
        setattr(receiver, _JITTER_ATTR, MarkerJitterBuffer(VIDEO_JITTER_CAPACITY, is_video=True))
        if advertise_bps is not None:
            setattr(receiver, _ESTIMATOR_ATTR, BitrateAdvert(advertise_bps))
    receiver._livedesk_tapped = True  # type: ignore[attr-defined]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the viewer behind ``sender`` asks for a keyframe."""
    sender._send_keyframe = callback  # type: ignore[method-assign]


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI to whoever sends to ``receiver``. False if no packet has arrived yet."""
    # browsers send retransmission (RTX) padding on a second SSRC, often first; a PLI
    # must name the media SSRC or the sender ignores it
    rtx = getattr(receiver, _RTX_ATTR, {})
    media = [s.source for s in receiver.getSynchronizationSources() if s.source not in rtx]
    if not media:
        return False
    for ssrc in media:
        await receiver._send_rtcp_pli(ssrc)
    return True


def restrict_codecs(transceiver: Any, mimes: tuple[str, ...]) -> bool:
    """Keep only ``mimes`` (and their RTX) among the codecs negotiated for a transceiver.

    Called between ``setRemoteDescription`` and ``createAnswer``: forwarding needs both
    sides of a relay to agree on one codec, so the answer names only those the relay
    forwards. False if none of them was offered.
    """
    codecs = list(transceiver._codecs)
    kept = [c for c in codecs if c.mimeType in mimes and c.mimeType != "video/rtx"]
    if not kept:
        return False
    kept = kept[:1]
    if "video/rtx" in mimes:
        pts = {c.payloadType for c in kept}
        kept += [
            c
            for c in codecs
            if c.mimeType == "video/rtx" and int(c.parameters.get("apt", -1)) in pts
        ]
    transceiver._codecs = kept
    return True


def check_aiortc() -> None:
    """Raise :class:`SeamMismatch` unless the installed aiortc fits this seam."""
    version = getattr(aiortc, "__version__", "")
    if not version.startswith(PINNED_AIORTC):
        raise SeamMismatch(
            f"aiortc {version} is installed; the encoded-frame seam is pinned to "
            f"{PINNED_AIORTC}x. Re-check visual/seam.py against the new receiver and sender."
        )
    source = inspect.getsource(RTCRtpReceiver)
    for needle in (
        "self.__decoder_queue.put((codec, encoded_frame))",
        "self.__decoder_queue.put(None)",
        "self.__decoder_queue,",
    ):
        if needle not in source:
            raise SeamMismatch(f"RTCRtpReceiver no longer contains {needle!r}")
    for needle in ("self.__remote_bitrate_estimator.add(", "self.__rtx_ssrc[encoding.rtx.ssrc]"):
        if needle not in source:
            raise SeamMismatch(f"RTCRtpReceiver no longer contains {needle!r}")
    if "JitterBuffer(capacity=512, is_video=True)" not in source:
        raise SeamMismatch("RTCRtpReceiver no longer builds its video jitter buffer as expected")
    jitter = inspect.getsource(JitterBuffer)
    for needle in ("def _remove_frame(self, sequence_number: int)", "self._packets[pos] = packet"):
        if needle not in jitter:
            raise SeamMismatch(f"JitterBuffer no longer contains {needle!r}")
    worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
    if "input_q.get()" not in worker or "if task is None" not in worker:
        raise SeamMismatch("aiortc's decoder_worker no longer reads the queue as expected")
    sender_source = inspect.getsource(RTCRtpSender)
    if "self._send_keyframe()" not in sender_source or "self.__encoder.pack(data)" not in (
        sender_source
    ):
        raise SeamMismatch("RTCRtpSender no longer routes PLI via _send_keyframe or packs")
    from aiortc.rtcpeerconnection import RTCPeerConnection

    if "transceiver._codecs = common" not in inspect.getsource(RTCPeerConnection):
        raise SeamMismatch("RTCPeerConnection no longer stores negotiated codecs on _codecs")
    if not inspect.iscoroutinefunction(getattr(RTCRtpReceiver, "_send_rtcp_pli", None)):
        raise SeamMismatch("RTCRtpReceiver._send_rtcp_pli is gone")
