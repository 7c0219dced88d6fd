"""Recording benchmark: what recording adds to a forwarded session, against aiortc's MediaRecorder.

livedesk: N two-party video sessions through the server (each side sends 640x480 VP8 at
30 fps plus Opus; four tracks in, four out). Windows alternate, on the same sessions:
unrecorded, then recorded (the agent asks, the customer agrees), then unrecorded again,
then recorded again. The server's CPU in the recorded windows minus the unrecorded ones,
per session, is what recording costs; it is also given as a share of the session's
forwarding cost (aim: under 10 %). After the run, the recorded files are read back: the
frames written against the frames sent, and the frames the recorder dropped.

Baseline, in the same run: bench/mediarecorder_sink.py receives the same two
participants' tracks and records them with aiortc's MediaRecorder (decode, then encode
again to VP8/Opus WebM), with nothing forwarded. Its CPU per session is set against the
CPU livedesk adds to record one, and the ratio printed.

    PYTHONPATH=. python bench/record_load.py            # ~3 minutes
    PYTHONPATH=. python bench/record_load.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
from aiortc import RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from chat_load import HOST, Proc, base_env, free_port, proc_cpu_s, proc_mem_mb, wait_http
from media_load import (
    RESULTS,
    ROOT,
    LivedeskTarget,
    SessionLoad,
    clip_track,
    log,
    start_livedesk,
)

from recorder import layout
from recorder.track import WRITER_THREAD
from visual.ice import restrict_host_addresses, rtc_configuration
from visual.seam import on_keyframe_request
from visual.sources import Clip, synthetic_audio, synthetic_video


async def cpu_window(pid: int, seconds: float) -> tuple[float, float]:
    """The process's CPU use over ``seconds``, and its recorder thread's, in % of one core."""
    c0, w0, t0 = proc_cpu_s(pid), writer_cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - t0
    return (proc_cpu_s(pid) - c0) / elapsed * 100, (writer_cpu_s(pid) - w0) / elapsed * 100


def writer_cpu_s(pid: int) -> float:
    """CPU seconds of the server's recorder writer thread (named for the OS), 0 if none."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            if (task / "comm").read_text().strip() == WRITER_THREAD:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# --------------------------------------------------------------------------- livedesk


async def set_recording(loads: list[SessionLoad], agent: Any, on: bool) -> None:
    for load in loads:
        assert load.customer is not None
        if on:
            await agent.request("recording.request", session=load.sid)
            await load.customer.wait_event(load.sid, "recording.requested")
            await load.customer.request("recording.respond", session=load.sid, accept=True)
        else:
            await agent.request("recording.stop", session=load.sid)


def read_back(data: Path) -> dict[str, Any]:
    """Frames in every recorded file, and what the manifests say was dropped."""
    frames = dropped = files = bad = 0
    for manifest_path in (data / "recordings").glob("*/manifest.json"):
        m = layout.read_manifest(manifest_path.parent)
        for t in m.tracks:
            files += 1
            dropped += t.dropped
            try:
                with av.open(str(manifest_path.parent / t.file)) as c:
                    frames += sum(1 for p in c.demux(c.streams[0]) if p.size)
            except av.FFmpegError:
                bad += 1
    return {"files": files, "frames": frames, "dropped": dropped, "unreadable": bad}


async def run_livedesk(
    http: aiohttp.ClientSession, work: Path, clips: dict[str, Clip], args: argparse.Namespace
) -> dict[str, Any]:
    proc, base, password = await start_livedesk(
        http, work, extra_config="\n[recording]\nrender = false\n"
    )
    data = work / "data"
    target = LivedeskTarget(base, http, password)
    loads: list[SessionLoad] = []
    try:
        await target.start()
        for i in range(args.sessions):
            loads.append(await target.add_session(clips, timed=False))
            await loads[-1].sink()
            log(f"livedesk: session {i + 1}/{args.sessions} flowing")
        await asyncio.sleep(args.settle)
        windows: list[tuple[str, float, float]] = []
        sent0 = sum(s.sent for load in loads for s in load.streams)
        recording = False
        phases = (
            ("unrecorded",) * args.pairs * 2
            if args.never_record
            else ("unrecorded", "recorded") * args.pairs
        )
        for phase in phases:
            if (phase == "recorded") != recording:
                recording = phase == "recorded"
                await set_recording(loads, target.agent, recording)
            await asyncio.sleep(args.settle)
            cpu, writer = await cpu_window(proc.pid, args.window)
            windows.append((phase, cpu, writer))
            log(
                f"livedesk {phase}: server CPU {cpu:.1f}% for {args.sessions} sessions"
                f" (recorder thread {writer:.2f}%)"
            )
        await set_recording(loads, target.agent, False)
        sent = sum(s.sent for load in loads for s in load.streams) - sent0
        await asyncio.sleep(2)
        rss = proc_mem_mb(proc.pid)[0]
    finally:
        for load in loads:
            await load.close()
        await target.close()
        proc.stop()
    files = read_back(data)
    unrec = [c for p, c, _ in windows if p == "unrecorded"]
    rec = [c for p, c, _ in windows if p == "recorded"]
    writer = [w for p, _, w in windows if p == "recorded"]
    n = args.sessions
    fwd = sum(unrec) / len(unrec) / n
    with_rec = sum(rec) / len(rec) / n
    return {
        "writer_thread_cpu_pct_per_session": sum(writer) / len(writer) / n,
        "sessions": n,
        "windows": windows,
        "forward_cpu_pct_per_session": fwd,
        "recorded_cpu_pct_per_session": with_rec,
        "recording_adds_cpu_pct_per_session": with_rec - fwd,
        "recording_adds_share": (with_rec - fwd) / fwd if fwd else None,
        "server_rss_mb": rss,
        "frames_sent_all_phases": sent,
        "recorded": files,
    }


# --------------------------------------------------------------------------- baseline


async def baseline_session(
    http: aiohttp.ClientSession, base: str, clips: dict[str, Clip]
) -> SessionLoad:
    """Customer and agent each send camera and microphone to the MediaRecorder sink."""
    load = SessionLoad()
    room = secrets.token_hex(6)
    for who in ("customer", "agent"):
        pc = RTCPeerConnection(rtc_configuration())
        load.pcs.append(pc)
        load.closers.append(pc.close)
        for clip in (clips["video"], clips["audio"]):
            track = clip_track(clip, load.streams, timed=False)
            t = pc.addTransceiver(track, direction="sendonly")
            on_keyframe_request(t.sender, track.force_keyframe)
        await pc.setLocalDescription(await pc.createOffer())
        async with http.post(
            base + "/offer",
            json={"room": room, "who": who, "sdp": pc.localDescription.sdp},
            timeout=aiohttp.ClientTimeout(total=60),
        ) as r:
            body = await r.json()
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp"], "answer"))
    return load


async def run_baseline(
    http: aiohttp.ClientSession, work: Path, clips: dict[str, Clip], args: argparse.Namespace
) -> dict[str, Any]:
    port = free_port()
    out_dir = work / "mediarecorder"
    proc = Proc(
        "mediarecorder_sink",
        [
            sys.executable,
            str(ROOT / "bench" / "mediarecorder_sink.py"),
            "--port",
            str(port),
            "--out",
            str(out_dir),
        ],
        env=base_env(),
        cwd=work,
        log=work / "baseline.log",
        cpus=None,
    )
    base = f"http://{HOST}:{port}"
    loads: list[SessionLoad] = []
    try:
        await wait_http(http, base + "/healthz", proc, 60)
        for _ in range(args.baseline_sessions):
            loads.append(await baseline_session(http, base, clips))
        await asyncio.sleep(args.settle)
        sent0 = sum(s.sent for load in loads for s in load.streams if s.kind == "video")
        cpus = []
        for _ in range(2):
            cpus.append((await cpu_window(proc.pid, args.window))[0])
            log(f"baseline MediaRecorder: CPU {cpus[-1]:.1f}% for {len(loads)} sessions")
        video_sent = (
            sum(s.sent for load in loads for s in load.streams if s.kind == "video") - sent0
        )
    finally:
        for load in loads:
            await load.close()
        proc.stop()
    await asyncio.sleep(1)
    video_written = 0
    for f in out_dir.glob("*.webm"):
        with contextlib.suppress(av.FFmpegError), av.open(str(f)) as c:
            vs = [s for s in c.streams if s.type == "video"]
            if vs:
                video_written += sum(1 for p in c.demux(vs[0]) if p.size)
    n = args.baseline_sessions
    cpu = sum(cpus) / len(cpus)
    return {
        "sessions": n,
        "cpu_pct": cpu,
        "cpu_pct_per_session": cpu / n,
        "video_frames_sent_in_windows": video_sent,
        "video_frames_in_files": video_written,
    }


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sessions", type=int, default=6, help="livedesk sessions (6)")
    ap.add_argument("--baseline-sessions", type=int, default=1, help="MediaRecorder sessions (1)")
    ap.add_argument("--window", type=float, default=20.0, help="seconds per window (20)")
    ap.add_argument("--pairs", type=int, default=3, help="unrecorded/recorded window pairs (3)")
    ap.add_argument(
        "--never-record", action="store_true", help="a control run: every window unrecorded"
    )
    ap.add_argument("--settle", type=float, default=3.0, help="seconds before a window (3)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--bitrate", type=int, default=500_000)
    ap.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with files and logs")
    return ap.parse_args(argv)


async def amain(args: argparse.Namespace) -> dict[str, Any]:
    restrict_host_addresses([HOST])
    loop = asyncio.get_running_loop()
    video = await loop.run_in_executor(
        None,
        lambda: synthetic_video(
            seconds=10, width=args.width, height=args.height, fps=args.fps, bitrate=args.bitrate
        ),
    )
    audio = await loop.run_in_executor(None, lambda: synthetic_audio(seconds=5))
    clips = {"video": video, "audio": audio}
    log(f"clips: {args.width}x{args.height} VP8 {video.bitrate / 1000:.0f} kbit/s, Opus")
    res: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cpus": os.cpu_count(),
        "args": {k: str(v) for k, v in vars(args).items()},
    }
    work = Path(tempfile.mkdtemp(prefix="livedesk-record-bench-"))
    try:
        async with aiohttp.ClientSession() as http:
            res["livedesk"] = await run_livedesk(http, work, clips, args)
            res["baseline"] = await run_baseline(http, work, clips, args)
    finally:
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return res


def report(res: dict[str, Any]) -> str:
    ld, bl = res["livedesk"], res["baseline"]
    added = ld["recording_adds_cpu_pct_per_session"]
    writer = ld["writer_thread_cpu_pct_per_session"]
    # the A/B difference is noisy at this size; the writer thread's own CPU is exact but
    # leaves out the hand-over on the event loop. The larger of the two is the figure used.
    cost = max(added, writer)
    share_used = cost / ld["forward_cpu_pct_per_session"]
    ratio = bl["cpu_pct_per_session"] / cost if cost > 0 else float("inf")
    res["recording_cost_pct_per_session"] = cost
    res["recording_cost_share"] = share_used
    res["ratio_mediarecorder_to_livedesk_recording"] = ratio
    rec = ld["recorded"]
    share = ld["recording_adds_share"]
    lines = [
        "",
        f"livedesk, {ld['sessions']} sessions (4 tracks in, 4 out each), server CPU per session:",
        f"  forwarding, unrecorded:           {ld['forward_cpu_pct_per_session']:.2f}% of a core",
        f"  forwarding and recording:         {ld['recorded_cpu_pct_per_session']:.2f}% of a core",
        f"  recorded minus unrecorded:        {added:.2f}% of a core"
        f" = {share * 100:.1f}% of the forwarded session",
        f"  the recorder's writer thread:     {writer:.2f}% of a core"
        f" = {writer / ld['forward_cpu_pct_per_session'] * 100:.1f}% of the forwarded session",
        f"  recording costs (the larger):     {cost:.2f}% of a core"
        f" = {share_used * 100:.1f}% of the forwarded session (aim: < 10%)",
        "  windows (server CPU, all sessions): "
        + ", ".join(f"{p} {c:.1f}%" for p, c, _ in ld["windows"]),
        f"  recorded files: {rec['files']}, frames in them {rec['frames']},"
        f" dropped by the recorder {rec['dropped']}, unreadable {rec['unreadable']}",
        f"  server RSS after: {ld['server_rss_mb']:.0f} MB",
        "",
        f"baseline, aiortc MediaRecorder (decode + re-encode), {bl['sessions']} session(s):",
        f"  CPU per recorded session:         {bl['cpu_pct_per_session']:.1f}% of a core",
        f"  video frames written / sent:      {bl['video_frames_in_files']}"
        f" / {bl['video_frames_sent_in_windows']} (sent in the windows; files cover more)",
        "",
        f"ratio, MediaRecorder CPU per recorded session / what recording costs livedesk per"
        f" session: {ratio:.0f}x",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    res = asyncio.run(amain(args))
    print(report(res), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = args.json or RESULTS / f"record_load-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(res, indent=2))
    log(f"results in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
