"""A recording server killed with SIGKILL: the files play, and the next start says interrupted.

The server runs as a real ``livedesk run`` process; aiortc clients publish a camera clip
with a keyframe every half second and a microphone, recording is agreed, and the process
is killed at a random moment. Each file must decode (with PyAV) up to a point at most a
second before the kill; the restarted server marks the recording ``interrupted``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import tomli_w

from recorder import layout
from signaling import archive, audit, config
from signaling.client import CustomerClient, StaffClient
from signaling.client_media import MediaClient
from visual.sources import ClipTrack, synthetic_audio, synthetic_video

from .conftest import PASSWORD, add_user

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_config(data: Path, port: int) -> dict[str, Any]:
    return {
        "server": {"host": "127.0.0.1", "port": port, "data_dir": str(data), "demo": False},
        "routing": {"offer_timeout_s": 5.0, "tick_s": 0.05},
        "media": {"host_addresses": ["127.0.0.1"]},
        "recording": {"render": False},
        "entries": {"demo": {"channels": ["chat", "voice", "video"]}},
    }


async def start_server(cfg_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEDESK_")}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "signaling", "run", "--config", str(cfg_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=cfg_path.parent,
    )
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError("the server did not start")
            await asyncio.sleep(0.1)


def decodable_until_ms(path: Path) -> tuple[int, int]:
    """(frames decoded, last decoded timestamp in ms) reading until the first error."""
    frames, last = 0, -1
    with av.open(str(path)) as c:
        stream = c.streams[0]
        try:
            for packet in c.demux(stream):
                if not packet.size:
                    continue
                for _ in packet.decode():
                    frames += 1
                    last = int(packet.pts * stream.time_base * 1000)
        except av.FFmpegError:
            pass  # the partial last cluster
    return frames, last


async def one_round(tmp: Path, seed: int) -> None:
    rng = random.Random(seed)
    port = free_port()
    data = tmp / "data"
    cfg_path = tmp / "livedesk.toml"
    cfg_path.write_text(tomli_w.dumps(server_config(data, port)))
    cfg = config.load(cfg_path)
    add_user(cfg, "agent_ann")
    add_user(cfg, "qa_quinn", role="qa")
    proc = await start_server(cfg_path, port)
    base = f"http://127.0.0.1:{port}"
    video = synthetic_video(seconds=10, width=320, height=240, keyframe_every=15)
    clients: list[Any] = []
    try:
        async with (
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
            aiohttp.ClientSession() as anon,
        ):
            agent = await StaffClient.login(http, base, "agent_ann", PASSWORD)
            clients.append(agent)
            await agent.set_status("available")
            customer = await CustomerClient.start(anon, base, entry="demo", text="hi", name="Kim")
            clients.append(customer)
            sid = await agent.wait_offer()
            await agent.request("offer.accept", session=sid)
            await agent.request("channel.request", session=sid, channel="video")
            await customer.wait_event(sid, "channel.offered")
            await customer.request("channel.respond", session=sid, channel="video", accept=True)
            cm, am = MediaClient(customer, sid), MediaClient(agent, sid)
            clients += [cm, am]
            await cm.start()
            await am.start()
            await cm.publish("camera", ClipTrack(video))
            await cm.publish("mic", ClipTrack(synthetic_audio(seconds=4)))
            pub = await am.wait_publication("camera")
            await am.wait_frames(pub["pub"], 10, timeout=15)
            await agent.request("recording.request", session=sid)
            await customer.wait_event(sid, "recording.requested")
            await customer.request("recording.respond", session=sid, accept=True)
            await agent.wait_event(sid, "recording.started")
            await asyncio.sleep(rng.uniform(1.0, 3.5))
            killed_at = time.time()
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            for c in reversed(clients):
                try:
                    await asyncio.wait_for(c.close(), timeout=5)
                except Exception:
                    pass
            clients.clear()

        directory = layout.session_dir(data, sid)
        manifest = layout.read_manifest(directory)
        assert manifest.state == "recording"
        assert {t.source for t in manifest.tracks} == {"camera", "mic"}
        kill_ms = (killed_at - manifest.origin) * 1000
        for info in manifest.tracks:
            frames, last_ms = decodable_until_ms(directory / info.file)
            assert frames > 0, info.source
            # at most a cluster (250 ms) plus, for video, one keyframe interval is lost
            assert last_ms > kill_ms - 1000, (info.source, last_ms, kill_ms)

        proc = await start_server(cfg_path, port)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(
                f"{base}/api/login", json={"username": "qa_quinn", "password": PASSWORD}
            ) as r:
                assert r.status == 200
            async with http.get(f"{base}/api/recordings/{sid}") as r:
                body = await r.json()
        assert body["state"] == "interrupted" and body["interrupted"] is True
        assert all(t["state"] == "interrupted" and t["frames"] > 0 for t in body["track_list"])
        assert layout.read_manifest(directory).state == "interrupted"
        lines = (directory / layout.TIMELINE).read_text().splitlines()
        assert "recording.started" in [json.loads(x)["kind"] for x in lines]
        interrupted = await asyncio.to_thread(
            archive.blocking, cfg, lambda a: audit.recent(a, kind=audit.RECORDING_INTERRUPTED)
        )
        assert [r.session_id for r in interrupted] == [sid]
    finally:
        for c in clients:
            try:
                await asyncio.wait_for(c.close(), timeout=5)
            except Exception:
                pass
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.mark.parametrize("seed", range(ROUNDS))
async def test_sigkill_mid_recording_leaves_playable_files_marked_interrupted(
    tmp_path: Path, seed: int
) -> None:
    await one_round(tmp_path, seed)
