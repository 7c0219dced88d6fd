"""Media benchmark: two-party video sessions through livedesk, against a transcoding relay.

Each session is a customer and an agent, each sending 640x480 VP8 at 30 fps plus Opus
to the server and receiving the other's: four tracks in, four out. The clients play
pre-encoded clips and count received frames through the encoded-frame seam, so they
neither encode nor decode and leave the CPU to the server.

At each step N the script adds sessions up to N, lets them settle, and measures a
window: server CPU per session, video and audio frames delivered over frames sent,
p99 event-loop lag (livedesk's /metrics), and latency: the time from a frame leaving
the customer's track to it arriving at the agent, matched by hash, minus the same
figure for a direct client-to-client peer connection measured in the same window.

Then it does the same against bench/transcode_relay.py, which decodes and re-encodes
every frame as aiortc's server example does, and prints how many sessions each held
at under 1 % frame loss, and the ratio.

    PYTHONPATH=. python bench/media_load.py            # the full run, ~4-6 minutes
    PYTHONPATH=. python bench/media_load.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import (
    HOST,
    Proc,
    base_env,
    free_port,
    pct,
    proc_cpu_s,
    proc_mem_mb,
    wait_http,
)

from signaling.client import CustomerClient, StaffClient
from signaling.client_media import MediaClient, Received
from visual.ice import restrict_host_addresses, rtc_configuration
from visual.seam import on_keyframe_request, tap_receiver
from visual.sources import (
    Clip,
    ClipTrack,
    frame_digest,
    synthetic_audio,
    synthetic_video,
)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --------------------------------------------------------------------------- streams


class Stream:
    """One track from a sender to a receiver: sent and received frame counts."""

    def __init__(self, kind: str, track: ClipTrack) -> None:
        self.kind = kind
        self.track = track
        self.received: Received | None = None
        self.sent_at: dict[bytes, list[float]] = {}  # a looping clip sends each frame again

    @property
    def sent(self) -> int:
        return self.track._sent

    @property
    def got(self) -> int:
        return self.received.count if self.received else 0


def clip_track(clip: Clip, stream_holder: list[Stream], *, timed: bool) -> ClipTrack:
    """A ClipTrack whose sends are timestamped by digest when ``timed``."""
    holder: dict[str, Stream] = {}

    def on_sent(data: bytes, at: float) -> None:
        s = holder.get("s")
        if s is not None and timed:
            s.sent_at.setdefault(frame_digest(data), []).append(at)

    track = ClipTrack(clip, on_sent=on_sent if timed else None)
    stream = Stream(clip.kind, track)
    holder["s"] = stream
    stream_holder.append(stream)
    return track


class _SinkSrtp:
    """Stands in for a client's SRTP receive context: RTP is dropped, RTCP still works."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def unprotect(self, data: bytes) -> bytes:
        return data

    def unprotect_rtcp(self, data: bytes) -> bytes:
        return bytes(self.real.unprotect_rtcp(data))


async def _drop_rtp(data: bytes, arrival_time_ms: int) -> None:
    return None


def sink_incoming_rtp(pc: RTCPeerConnection) -> bool:
    """Stop processing RTP that arrives at a load-generator peer (the server is unaffected).

    Only a few sessions count the frames they receive; the others throw incoming media
    away before decryption, so the load generator spends its CPU sending, like the
    browsers it stands in for, and the server stays the one being measured.
    """
    transceivers = pc.getTransceivers()
    if not transceivers:
        return False
    transport = transceivers[0].receiver.transport
    if getattr(transport, "_rx_srtp", None) is None:
        return False
    transport._rx_srtp = _SinkSrtp(transport._rx_srtp)
    transport._handle_rtp_data = _drop_rtp
    return True


class SessionLoad:
    """The streams of one two-party session."""

    def __init__(self) -> None:
        self.streams: list[Stream] = []
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self.pcs: list[RTCPeerConnection] = []
        self.measured = True
        self.sid = ""
        self.customer: CustomerClient | None = None

    async def sink(self) -> None:
        """Let this session's receivers drop what they get (see sink_incoming_rtp)."""
        deadline = time.monotonic() + 10
        for pc in self.pcs:
            while not sink_incoming_rtp(pc):
                if time.monotonic() > deadline:
                    raise RuntimeError("a peer never finished its DTLS handshake")
                await asyncio.sleep(0.05)
        self.measured = False

    async def close(self) -> None:
        for c in self.closers:
            with contextlib.suppress(Exception):
                await c()


# --------------------------------------------------------------------------- targets


class LivedeskTarget:
    name = "livedesk (forward encoded)"

    def __init__(self, base: str, http: aiohttp.ClientSession, password: str) -> None:
        self.base = base
        self.http = http
        self.password = password
        self.agent: StaffClient | None = None

    async def start(self) -> None:
        self.agent = await StaffClient.login(self.http, self.base, "bench_agent", self.password)
        await self.agent.connect()
        await self.agent.request("agent.status", status="available")

    async def add_session(self, clips: dict[str, Clip], *, timed: bool) -> SessionLoad:
        assert self.agent is not None
        load = SessionLoad()
        customer = await CustomerClient.start(self.http, self.base, entry="bench", text="hi")
        load.closers.append(customer.disconnect)
        sid = load.sid = customer.session
        load.customer = customer
        await self.agent.wait_for(
            lambda m: (
                m.get("type") == "console"
                and any(s["session"] == sid and s["state"] == "offered" for s in m["sessions"])
            ),
            timeout=30,
        )
        await self.agent.request("offer.accept", session=sid)
        await self.agent.request("channel.request", session=sid, channel="video")
        await customer.wait_event(sid, "channel.offered")
        await customer.request("channel.respond", session=sid, channel="video", accept=True)
        cm = MediaClient(customer, sid, keep_digests=timed)
        am = MediaClient(self.agent, sid, keep_digests=timed)
        load.closers[:0] = [cm.close, am.close]
        await cm.start()
        await am.start()
        assert cm.pc is not None and am.pc is not None
        load.pcs += [cm.pc, am.pc]
        c_cam = clip_track(clips["video"], load.streams, timed=timed)
        c_mic = clip_track(clips["audio"], load.streams, timed=False)
        a_cam = clip_track(clips["video"], load.streams, timed=False)
        a_mic = clip_track(clips["audio"], load.streams, timed=False)
        await cm.publish("camera", c_cam)
        await cm.publish("mic", c_mic)
        await am.publish("camera", a_cam)
        await am.publish("mic", a_mic)
        wanted = {
            (am, "camera"): load.streams[0],
            (am, "mic"): load.streams[1],
            (cm, "camera"): load.streams[2],
            (cm, "mic"): load.streams[3],
        }
        deadline = time.monotonic() + 20
        while any(s.received is None for s in wanted.values()):
            for (client, source), stream in wanted.items():
                if stream.received is None:
                    with contextlib.suppress(TimeoutError):
                        pub = await client.wait_publication(source, timeout=0.05)
                        stream.received = client.received.get(pub["pub"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"session {sid}: media did not start")
            await asyncio.sleep(0.05)
        return load

    async def close(self) -> None:
        if self.agent is not None:
            await self.agent.disconnect()


class TranscodeTarget:
    name = "baseline (decode + re-encode)"

    def __init__(self, base: str, http: aiohttp.ClientSession) -> None:
        self.base = base
        self.http = http

    async def start(self) -> None:
        pass

    async def add_session(self, clips: dict[str, Clip], *, timed: bool) -> SessionLoad:
        load = SessionLoad()
        room = secrets.token_hex(6)
        pcs = []
        for who in ("customer", "agent"):
            pc = RTCPeerConnection(rtc_configuration())
            pcs.append((who, pc))
            load.pcs.append(pc)
            load.closers.append(pc.close)
        parties = []
        for who, pc in pcs:
            cam = clip_track(clips["video"], load.streams, timed=False)
            mic = clip_track(clips["audio"], load.streams, timed=False)
            for tr in (cam, mic):
                t = pc.addTransceiver(tr, direction="sendonly")
                on_keyframe_request(t.sender, tr.force_keyframe)
            recv = {}
            for kind in ("video", "audio"):
                t = pc.addTransceiver(kind, direction="recvonly")
                got = Received(kind, kind, keep_digests=False)
                tap_receiver(t.receiver, got.on_frame)
                recv[kind] = got
            await pc.setLocalDescription(await pc.createOffer())
            parties.append((who, pc, recv))

        async def post(who: str, pc: RTCPeerConnection) -> None:
            async with self.http.post(
                self.base + "/offer",
                json={"room": room, "who": who, "sdp": pc.localDescription.sdp},
                timeout=aiohttp.ClientTimeout(total=60),
            ) as r:
                body = await r.json()
            await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))

        await asyncio.gather(*(post(who, pc) for who, pc, _ in parties))
        # streams: [c_cam, c_mic, a_cam, a_mic]; the agent receives the customer's
        load.streams[0].received = parties[1][2]["video"]
        load.streams[1].received = parties[1][2]["audio"]
        load.streams[2].received = parties[0][2]["video"]
        load.streams[3].received = parties[0][2]["audio"]
        return load

    async def close(self) -> None:
        pass


# --------------------------------------------------------------------------- direct reference


async def direct_pair(clip: Clip) -> tuple[Stream, Callable[[], Awaitable[None]]]:
    """A customer-to-agent peer connection with no server between, for latency reference."""
    holder: list[Stream] = []
    a = RTCPeerConnection(rtc_configuration())
    b = RTCPeerConnection(rtc_configuration())
    track = clip_track(clip, holder, timed=True)
    t = a.addTransceiver(track, direction="sendonly")
    on_keyframe_request(t.sender, track.force_keyframe)
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    got = Received("direct", "video")
    for tb in b.getTransceivers():
        tap_receiver(tb.receiver, got.on_frame)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    holder[0].received = got

    async def close() -> None:
        await a.close()
        await b.close()

    return holder[0], close


def latencies_ms(streams: list[Stream], since: float) -> list[float]:
    out = []
    for s in streams:
        if s.received is None or not s.sent_at:
            continue
        for digest, arrived in zip(s.received.digests, s.received.arrivals, strict=False):
            if arrived < since:
                continue
            # the latest send of this frame before it arrived (the clip loops)
            sent = max((t for t in s.sent_at.get(digest, ()) if t <= arrived), default=None)
            if sent is not None:
                out.append((arrived - sent) * 1000)
    return out


# --------------------------------------------------------------------------- measuring


async def metric(http: aiohttp.ClientSession, base: str, name: str) -> float | None:
    with contextlib.suppress(Exception):
        async with http.get(base + "/metrics") as r:
            for line in (await r.text()).splitlines():
                if line.startswith(name):
                    return float(line.rsplit(" ", 1)[1])
    return None


async def measure(
    target: Any,
    proc: Proc,
    http: aiohttp.ClientSession,
    base: str,
    loads: list[SessionLoad],
    direct: Stream,
    window: float,
) -> dict[str, Any]:
    # frames are counted on the measured sessions; the others only load the server
    streams = [s for load in loads if load.measured for s in load.streams]
    before = [(s.sent, s.got) for s in streams]
    d_before = (direct.sent, direct.got)
    cpu0, gen0, t0 = proc_cpu_s(proc.pid), proc_cpu_s(os.getpid()), time.monotonic()
    lag_p99: list[float] = []
    end = t0 + window
    while time.monotonic() < end:
        await asyncio.sleep(min(5.0, end - time.monotonic()))
        v = await metric(http, base, 'livedesk_event_loop_lag_seconds{window="p99_10s"}')
        if v is not None:
            lag_p99.append(v * 1000)
    elapsed = time.monotonic() - t0
    cpu = (proc_cpu_s(proc.pid) - cpu0) / elapsed
    gen = (proc_cpu_s(os.getpid()) - gen0) / elapsed
    sent = {"video": 0, "audio": 0}
    got = {"video": 0, "audio": 0}
    worst = 1.0
    for s, (s0, g0) in zip(streams, before, strict=True):
        ds, dg = s.sent - s0, s.got - g0
        sent[s.kind] += ds
        got[s.kind] += dg
        if s.kind == "video" and ds:
            worst = min(worst, dg / ds)
    via = latencies_ms([s for s in streams if s.sent_at], t0)
    direct_ms = latencies_ms([direct], t0)
    d_ratio = (direct.got - d_before[1]) / max(1, direct.sent - d_before[0])
    n = len(loads)
    res = {
        "sessions": n,
        "measured_sessions": sum(1 for load in loads if load.measured),
        "server_cpu_pct": cpu * 100,
        "server_cpu_pct_per_session": cpu * 100 / n if n else 0.0,
        "loadgen_cpu_pct": gen * 100,
        "video_delivered": got["video"] / max(1, sent["video"]),
        "audio_delivered": got["audio"] / max(1, sent["audio"]),
        "worst_video_stream": worst,
        "video_fps_per_stream": got["video"]
        / max(1, sum(1 for s in streams if s.kind == "video"))
        / elapsed,
        "lag_p99_ms": max(lag_p99) if lag_p99 else None,
        "latency_p50_ms": pct(via, 50),
        "latency_p99_ms": pct(via, 99),
        "direct_p50_ms": pct(direct_ms, 50),
        "direct_p99_ms": pct(direct_ms, 99),
        "direct_delivered": d_ratio,
        "server_rss_mb": proc_mem_mb(proc.pid)[0],
    }
    if res["latency_p50_ms"] is not None and res["direct_p50_ms"] is not None:
        res["server_added_p50_ms"] = res["latency_p50_ms"] - res["direct_p50_ms"]
    if res["latency_p99_ms"] is not None and res["direct_p99_ms"] is not None:
        res["server_added_p99_ms"] = res["latency_p99_ms"] - res["direct_p99_ms"]
    return res


def held(res: dict[str, Any], max_loss: float) -> bool:
    return res["video_delivered"] >= 1 - max_loss and res["audio_delivered"] >= 1 - max_loss


async def ramp(
    target: Any,
    proc: Proc,
    http: aiohttp.ClientSession,
    base: str,
    steps: list[int],
    clips: dict[str, Clip],
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    await target.start()
    loads: list[SessionLoad] = []
    direct, close_direct = await direct_pair(clips["video"])
    results: list[dict[str, Any]] = []
    misses = 0
    try:
        for n in steps:
            t0 = time.monotonic()
            while len(loads) < n:
                timed = len(loads) < args.timed_sessions
                load = await target.add_session(clips, timed=timed)
                if len(loads) >= args.measured_sessions:
                    await load.sink()
                loads.append(load)
            log(f"{target.name}: {n} sessions up in {time.monotonic() - t0:.1f} s; settling")
            await asyncio.sleep(args.settle)
            if not proc.alive():
                raise RuntimeError(f"{proc.name} died:\n{proc.tail()}")
            # the load generator's own collector pauses must not show up as lost frames
            gc.collect()
            gc.freeze()
            gc.disable()
            try:
                res = await measure(target, proc, http, base, loads, direct, args.window)
            finally:
                gc.enable()
            results.append(res)
            log(
                f"  N={n}: server CPU {res['server_cpu_pct']:.0f}% "
                f"({res['server_cpu_pct_per_session']:.1f}%/session), video delivered "
                f"{res['video_delivered'] * 100:.2f}%, audio {res['audio_delivered'] * 100:.2f}%, "
                f"lag p99 {res['lag_p99_ms']}, loadgen CPU {res['loadgen_cpu_pct']:.0f}%"
            )
            if held(res, args.max_loss):
                misses = 0
            else:
                misses += 1
                if misses >= 2:
                    break
    finally:
        for load in loads:
            await load.close()
        await close_direct()
        await target.close()
    return results


# --------------------------------------------------------------------------- servers


def write_config(work: Path, port: int, data: Path) -> Path:
    cfg = work / "livedesk.toml"
    cfg.write_text(
        f"""
[server]
host = "{HOST}"
port = {port}
data_dir = "{data}"
demo = false
log_level = "warning"

[limits]
messages_per_s = 200
message_burst = 400

[media]
host_addresses = ["{HOST}"]

[entries.bench]
title = "bench"
channels = ["chat", "voice", "video", "screen"]
"""
    )
    return cfg


async def start_livedesk(
    http: aiohttp.ClientSession, work: Path, *, extra_config: str = ""
) -> tuple[Proc, str, str]:
    """A ``livedesk run`` process with the bench entry and agent: (process, base URL, password)."""
    port = free_port()
    cfg = write_config(work, port, work / "data")
    if extra_config:
        with cfg.open("a") as fh:
            fh.write(extra_config)
    password = "bench-" + secrets.token_hex(8)
    env = {**base_env(), "LIVEDESK_NEW_PASSWORD": password}
    add = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "signaling", "user", "add", "bench_agent",
        "--role", "agent", "--capacity", "100", "--config", str(cfg),
        env=env, cwd=work, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await add.communicate()
    if add.returncode != 0:
        raise RuntimeError(out.decode(errors="replace"))
    proc = Proc(
        "livedesk",
        [sys.executable, "-m", "signaling", "run", "--config", str(cfg)],
        env=base_env(),
        cwd=work,
        log=work / "livedesk.log",
        cpus=None,
    )
    base = f"http://{HOST}:{port}"
    try:
        await wait_http(http, base + "/healthz", proc, 60)
    except BaseException:
        proc.stop()
        raise
    return proc, base, password


async def run_livedesk(
    http: aiohttp.ClientSession, work: Path, clips: dict[str, Clip], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], str]:
    proc, base, password = await start_livedesk(http, work)
    try:
        target = LivedeskTarget(base, http, password)
        steps = list(range(args.step, args.max_sessions + 1, args.step))
        return await ramp(target, proc, http, base, steps, clips, args), proc.log.read_text()[
            -2000:
        ]
    finally:
        proc.stop()


async def run_baseline(
    http: aiohttp.ClientSession, work: Path, clips: dict[str, Clip], args: argparse.Namespace
) -> list[dict[str, Any]]:
    port = free_port()
    proc = Proc(
        "transcode_relay",
        [sys.executable, str(ROOT / "bench" / "transcode_relay.py"), "--port", str(port)],
        env=base_env(),
        cwd=work,
        log=work / "baseline.log",
        cpus=None,
    )
    base = f"http://{HOST}:{port}"
    try:
        await wait_http(http, base + "/healthz", proc, 60)
        steps = list(range(1, args.baseline_max + 1))
        return await ramp(TranscodeTarget(base, http), proc, http, base, steps, clips, args)
    finally:
        proc.stop()


# --------------------------------------------------------------------------- report


def best(results: list[dict[str, Any]], max_loss: float) -> int:
    ok = [r["sessions"] for r in results if held(r, max_loss)]
    return max(ok, default=0)


def _f(v: Any, fmt: str = "{:.1f}") -> str:
    return "-" if v is None else fmt.format(v)


def table(name: str, results: list[dict[str, Any]]) -> str:
    lines = [
        f"\n{name}",
        "| sessions | server CPU | CPU/session | video delivered | audio delivered | worst stream "
        "| fps/stream | loop lag p99 | latency p50 / p99 | server-added p50 / p99 | loadgen CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['sessions']} | {r['server_cpu_pct']:.0f}% "
            f"| {r['server_cpu_pct_per_session']:.1f}% "
            f"| {r['video_delivered'] * 100:.2f}% | {r['audio_delivered'] * 100:.2f}% "
            f"| {r['worst_video_stream'] * 100:.1f}% | {r['video_fps_per_stream']:.1f} "
            f"| {_f(r['lag_p99_ms'])} ms "
            f"| {_f(r['latency_p50_ms'])} / {_f(r['latency_p99_ms'])} ms "
            f"| {_f(r.get('server_added_p50_ms'))} / {_f(r.get('server_added_p99_ms'))} ms "
            f"| {r['loadgen_cpu_pct']:.0f}% |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--max-sessions", type=int, default=30, help="livedesk ramp ceiling (30)")
    ap.add_argument("--step", type=int, default=5, help="livedesk ramp step (5)")
    ap.add_argument("--baseline-max", type=int, default=8, help="baseline ramp ceiling (8)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--only-baseline", action="store_true")
    ap.add_argument("--window", type=float, default=10.0, help="measured seconds per step (10)")
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before each window (3)")
    ap.add_argument("--max-loss", type=float, default=0.01, help="frame loss still 'held' (0.01)")
    ap.add_argument(
        "--timed-sessions", type=int, default=2, help="sessions whose latency is measured (2)"
    )
    ap.add_argument(
        "--measured-sessions",
        type=int,
        default=4,
        help="sessions whose receivers count frames; the rest drop incoming RTP (4)",
    )
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--bitrate", type=int, default=500_000, help="clip video bitrate, bits/s")
    ap.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with server logs")
    return ap.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses([HOST])
    log(f"encoding clips: {args.width}x{args.height} VP8 at {args.fps} fps, Opus 20 ms")
    loop = asyncio.get_running_loop()
    video = await loop.run_in_executor(
        None,
        lambda: synthetic_video(
            seconds=10, width=args.width, height=args.height, fps=args.fps, bitrate=args.bitrate
        ),
    )
    audio = await loop.run_in_executor(None, lambda: synthetic_audio(seconds=5))
    clips = {"video": video, "audio": audio}
    log(f"video clip: {len(video.frames)} frames, {video.bitrate / 1000:.0f} kbit/s")
    out: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "video_kbps": video.bitrate / 1000,
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    work = Path(tempfile.mkdtemp(prefix="livedesk-media-bench-"))
    async with aiohttp.ClientSession() as http:
        if not args.only_baseline:
            out["livedesk"], _ = await run_livedesk(http, work, clips, args)
            print(table("livedesk: forward encoded frames", out["livedesk"]), flush=True)
        if not args.no_baseline:
            out["baseline"] = await run_baseline(http, work, clips, args)
            print(
                table("baseline: decode + re-encode (aiortc MediaRelay)", out["baseline"]),
                flush=True,
            )
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    else:
        log(f"logs kept in {work}")
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = asyncio.run(amain(args))
    lines = ["", f"sessions held at < {args.max_loss * 100:g}% frame loss:"]
    fw = best(res.get("livedesk", []), args.max_loss)
    bl = best(res.get("baseline", []), args.max_loss)
    if "livedesk" in res:
        lines.append(f"  livedesk (forward):  {fw}")
    if "baseline" in res:
        lines.append(f"  baseline (transcode): {bl}")
    if "livedesk" in res and "baseline" in res:
        ratio = fw / bl if bl else float("inf")
        lines.append(f"  ratio: {ratio:.1f}x (aim: >= 5x, and >= 15 sessions)")
        res["ratio"] = ratio
    res["held"] = {"livedesk": fw, "baseline": bl}
    print("\n".join(lines), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.json or RESULTS / f"media_load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2))
    log(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
