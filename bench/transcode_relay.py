"""The baseline for bench/media_load.py: a relay that decodes and re-encodes every frame.

This is how aiortc's own server example relays media: each received track is decoded
(aiortc's receivers always decode), shared through ``aiortc.contrib.media.MediaRelay``,
and encoded again by every sender. No auth, no sessions, no state: one HTTP endpoint.

    POST /offer {"room", "who", "sdp"} -> {"sdp"}

The first participant's request waits until the second one of the same room arrives;
then each one's receive-only sections get the other's tracks. Run by the benchmark as
``python bench/transcode_relay.py --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from visual.ice import restrict_host_addresses, rtc_configuration


class Party:
    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.tracks: dict[str, MediaStreamTrack] = {}
        self.ready = asyncio.get_running_loop().create_future()
        self.described = False


ROOMS: dict[str, dict[str, Party]] = {}
RELAY = MediaRelay()
PCS: set[RTCPeerConnection] = set()


async def offer(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    room = ROOMS.setdefault(body["room"], {})
    pc = RTCPeerConnection(rtc_configuration())
    PCS.add(pc)
    party = room[body["who"]] = Party(pc)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        party.tracks[track.kind] = track

    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    party.described = True
    if len(room) == 2 and all(p.described for p in room.values()):
        first, second = room.values()
        _attach(first, second)
        _attach(second, first)
        for p in room.values():
            if not p.ready.done():
                p.ready.set_result(None)
    await party.ready
    answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    return web.json_response({"sdp": pc.localDescription.sdp})


def _attach(me: Party, other: Party) -> None:
    """Send ``other``'s decoded tracks on ``me``'s receive-only sections (re-encoded)."""
    used: set[str] = set()
    for t in me.pc.getTransceivers():
        offered = getattr(t, "_offerDirection", None)
        if offered not in ("sendonly", "sendrecv"):  # from our side: we may send here
            continue
        if t.kind in used or t.kind not in other.tracks:
            continue
        t.sender.replaceTrack(RELAY.subscribe(other.tracks[t.kind], buffered=False))
        t.direction = "sendonly"
        used.add(t.kind)


async def on_shutdown(_app: web.Application) -> None:
    await asyncio.gather(*(pc.close() for pc in PCS))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    restrict_host_addresses(["127.0.0.1"])
    app = web.Application()
    app.router.add_post("/offer", offer)
    app.router.add_get("/healthz", lambda _r: _ok())
    app.on_shutdown.append(on_shutdown)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


async def _ok() -> web.Response:
    return web.Response(text="ok")


if __name__ == "__main__":
    main()
