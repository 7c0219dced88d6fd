"""The baseline for bench/record_load.py: aiortc's own way to record, MediaRecorder.

Each participant's peer connection sends its camera and microphone here; every received
track goes to an ``aiortc.contrib.media.MediaRecorder`` writing one WebM file (VP8 and
Opus) per participant, as aiortc's server example records. aiortc decodes what it
receives, and MediaRecorder encodes it again, on the event loop. Nothing is forwarded,
so the figure is the recording alone.

    POST /offer {"room", "who", "sdp"} -> {"sdp"}

Run by the benchmark as ``python bench/mediarecorder_sink.py --port N --out DIR``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamTrack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from visual.ice import restrict_host_addresses, rtc_configuration

OUT = web.AppKey("out", Path)
PEERS: list[tuple[RTCPeerConnection, MediaRecorder]] = []


async def offer(request: web.Request) -> web.Response:
    body: dict[str, Any] = await request.json()
    pc = RTCPeerConnection(rtc_configuration())
    recorder = MediaRecorder(str(request.app[OUT] / f"{body['room']}-{body['who']}.webm"))
    PEERS.append((pc, recorder))

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        recorder.addTrack(track)

    await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "offer"))
    await recorder.start()
    await pc.setLocalDescription(await pc.createAnswer())
    return web.json_response({"sdp": pc.localDescription.sdp})


async def on_shutdown(_app: web.Application) -> None:
    for pc, recorder in PEERS:
        await recorder.stop()
        await pc.close()


async def _ok(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    restrict_host_addresses(["127.0.0.1"])
    args.out.mkdir(parents=True, exist_ok=True)
    app = web.Application()
    app[OUT] = args.out
    app.router.add_post("/offer", offer)
    app.router.add_get("/healthz", _ok)
    app.on_shutdown.append(on_shutdown)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
