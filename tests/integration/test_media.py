"""Media through a real server: aiortc client peers on loopback, frames compared by hash.

The server forwards encoded frames; if it decoded and re-encoded anything, the bytes
that arrive would differ from the bytes sent, and these tests would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from signaling.client import CustomerClient, RequestFailed, StaffClient
from signaling.client_media import MediaClient
from signaling.keys import MEDIA
from visual.sources import Clip, ClipTrack, frame_digest, synthetic_audio, synthetic_video

from .conftest import StartDesk

pytestmark = [
    pytest.mark.parametrize("store_kind", ["memory"]),
    pytest.mark.usefixtures("media_clips"),
]


@functools.cache
def video_clip() -> Clip:
    # one keyframe at the start of a 10 s loop: a late joiner depends on a forwarded PLI
    return synthetic_video(seconds=10, width=320, height=240, bitrate=300_000)


@functools.cache
def audio_clip() -> Clip:
    return synthetic_audio(seconds=4)


class Sent:
    """Digests a track sent, in order."""

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self.times: dict[bytes, float] = {}

    def __call__(self, data: bytes, at: float) -> None:
        d = frame_digest(data)
        self.digests.append(d)
        self.times.setdefault(d, at)


def track(clip: Clip) -> tuple[ClipTrack, Sent]:
    sent = Sent()
    return ClipTrack(clip, on_sent=sent), sent


def is_ordered_subsequence(received: list[bytes], sent: list[bytes]) -> bool:
    it = iter(sent)
    return all(any(d == s for s in it) for d in received)


async def accepted_pair(start_desk: StartDesk, **sections: Any):
    desk = await start_desk(**sections)
    agent = await desk.staff("agent_ann")
    customer = await desk.customer(name="Kim")
    sid = await agent.wait_offer()
    await agent.request("offer.accept", session=sid)
    await customer.wait_event(sid, "session.accepted")
    return desk, agent, customer, sid


async def agree(
    sid: str,
    asker: CustomerClient | StaffClient,
    answerer: CustomerClient | StaffClient,
    channel: str,
    **kw: Any,
) -> None:
    await asker.request("channel.request", session=sid, channel=channel, **kw)
    await answerer.wait_event(sid, "channel.offered")
    await answerer.request("channel.respond", session=sid, channel=channel, accept=True)


@contextlib.asynccontextmanager
async def peers(
    customer: CustomerClient, agent: StaffClient, sid: str, *, agent_subscribes: bool = True
) -> AsyncIterator[tuple[MediaClient, MediaClient]]:
    """Both participants' peer connections to the server, closed afterwards."""
    cm, am = MediaClient(customer, sid), MediaClient(agent, sid, auto_subscribe=agent_subscribes)
    await cm.start()
    await am.start()
    try:
        yield cm, am
    finally:
        await cm.close()
        await am.close()


def is_chat(text: str) -> Callable[[dict[str, Any]], bool]:
    def match(m: dict[str, Any]) -> bool:
        return (
            m.get("type") == "event"
            and m["event"]["kind"] == "chat.message"
            and m["event"]["data"]["text"] == text
        )

    return match


def kinds(client: CustomerClient | StaffClient, sid: str) -> list[str]:
    return [m["event"]["kind"] for m in client.events.get(sid, [])]


async def wait_kind(
    client: CustomerClient | StaffClient, sid: str, kind: str, timeout: float = 10
) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in client.events.get(sid, []):
            if m["event"]["kind"] == kind:
                return m["event"]
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no {kind} in {kinds(client, sid)}")


async def test_video_arrives_byte_identical_and_audio_flows_both_ways(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, cam_sent = track(video_clip())
        cmic, cmic_sent = track(audio_clip())
        amic, amic_sent = track(audio_clip())
        await cm.publish("camera", cam)
        await cm.publish("mic", cmic)
        await am.publish("mic", amic)
        cam_pub = await am.wait_publication("camera")
        mic_pub = await am.wait_publication("mic")
        back_pub = await cm.wait_publication("mic")
        video = await am.wait_frames(cam_pub["pub"], 60, timeout=15)
        heard = await am.wait_frames(mic_pub["pub"], 50, timeout=15)
        back = await cm.wait_frames(back_pub["pub"], 50, timeout=15)

        assert cam_pub["role"] == "customer" and cam_pub["name"] == "Kim"
        # every video frame the agent got is one the customer sent, unchanged and in order
        assert set(video.digests) <= set(cam_sent.digests)
        assert is_ordered_subsequence(video.digests, cam_sent.digests)
        assert video.keyframes >= 1
        assert set(heard.digests) <= set(cmic_sent.digests)
        assert set(back.digests) <= set(amic_sent.digests)
        # the server logged what it did
        event = await wait_kind(agent, sid, "channel.active")
        assert event["data"] == {"channel": "video", "origin": "agent"}
        published = [
            m["event"]["data"]["source"]
            for m in agent.events[sid]
            if m["event"]["kind"] == "media.published"
        ]
        assert sorted(published) == ["camera", "mic", "mic"]


async def test_a_late_viewer_gets_a_decodable_frame_within_a_second(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid, agent_subscribes=False) as (cm, am):
        cam, _ = track(video_clip())
        await cm.publish("camera", cam)
        pub = await am.wait_publication("camera")
        await asyncio.sleep(2.5)  # the clip's only keyframe has long gone by
        requests_before = cam.keyframe_requests
        got = await am.subscribe(pub["pub"], "video")
        await am.wait_frames(pub["pub"], 1, timeout=5)
        assert got.first_keyframe_at is not None
        waited = got.first_keyframe_at - got.subscribed_at
        assert waited < 1.0, f"first decodable frame after {waited:.2f} s"
        assert cam.keyframe_requests > requests_before  # the PLI reached the sender


async def test_nothing_is_forwarded_without_consent(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    async with peers(customer, agent, sid) as (cm, _am):
        cam, _ = track(video_clip())
        with pytest.raises(RequestFailed) as err:
            await cm.publish("camera", cam)
        assert err.value.code == "consent"
        await agent.request("channel.request", session=sid, channel="video")
        await customer.wait_event(sid, "channel.offered")
        with pytest.raises(RequestFailed) as err:  # asked but not yet answered
            await cm.negotiate()
        assert err.value.code == "consent"
        await customer.request("channel.respond", session=sid, channel="video", accept=False)
        event = await wait_kind(agent, sid, "channel.declined")
        assert event["data"] == {"channel": "video", "origin": "agent"}
        with pytest.raises(RequestFailed) as err:
            await cm.negotiate()
        assert err.value.code == "consent"
        # the chat carries on
        await customer.say("no video, thanks")
        await agent.wait_for(is_chat("no video, thanks"))


async def test_a_voice_call_adds_video_on_the_same_connection(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, customer, agent, "voice")
    async with peers(customer, agent, sid) as (cm, am):
        mic, _ = track(audio_clip())
        await cm.publish("mic", mic)
        mic_pub = await am.wait_publication("mic")
        await am.wait_frames(mic_pub["pub"], 25)
        pc_before = cm.pc
        server_pc = desk.app[MEDIA].plane.rooms[sid].peers[cm.you].pc
        await agree(sid, agent, customer, "video")
        cam, cam_sent = track(video_clip())
        await cm.publish("camera", cam)
        cam_pub = await am.wait_publication("camera")
        video = await am.wait_frames(cam_pub["pub"], 30)
        assert set(video.digests) <= set(cam_sent.digests)
        assert cm.pc is pc_before and cm.pc.connectionState == "connected"
        assert desk.app[MEDIA].plane.rooms[sid].peers[cm.you].pc is server_pc
        heard_before = am.received[mic_pub["pub"]].count
        await asyncio.sleep(0.5)
        assert am.received[mic_pub["pub"]].count > heard_before  # the voice never stopped
        assert "media.connected" in kinds(agent, sid)
        assert kinds(agent, sid).count("media.connected") == 2  # one per participant


async def test_camera_and_screen_flow_at_the_same_time(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, agent, customer, "video")
    await agree(sid, customer, agent, "screen")
    async with peers(customer, agent, sid) as (cm, am):
        cam, cam_sent = track(video_clip())
        screen, screen_sent = track(synthetic_video(seconds=3, width=320, height=240, seed=99))
        await cm.publish("camera", cam)
        await cm.publish("screen", screen)
        cam_pub = await am.wait_publication("camera")
        screen_pub = await am.wait_publication("screen")
        v1 = await am.wait_frames(cam_pub["pub"], 30)
        v2 = await am.wait_frames(screen_pub["pub"], 30)
        assert set(v1.digests) <= set(cam_sent.digests)
        assert set(v2.digests) <= set(screen_sent.digests)
        assert not set(v1.digests) & set(v2.digests)


async def test_the_agent_shares_a_screen_only_as_the_agreed_sharer(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, customer, agent, "screen")  # the customer's screen
    async with peers(customer, agent, sid) as (_cm, am):
        screen, _ = track(video_clip())
        with pytest.raises(RequestFailed) as err:
            await am.publish("screen", screen)
        assert err.value.code == "consent"


async def test_stopping_a_channel_stops_its_media_at_once(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, _ = track(video_clip())
        await cm.publish("camera", cam)
        pub = await am.wait_publication("camera")
        got = await am.wait_frames(pub["pub"], 10)
        await customer.request("channel.stop", session=sid, channel="video")
        event = await wait_kind(agent, sid, "media.unpublished")
        assert event["data"]["reason"] == "channel stopped"
        await asyncio.sleep(0.3)
        count = got.count
        await asyncio.sleep(0.7)
        assert got.count == count  # nothing more is forwarded
        assert not [p for p in am.publications if p["source"] == "camera"]


async def test_muting_is_logged_and_shown_in_the_publication_list(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    await agree(sid, agent, customer, "voice")
    async with peers(customer, agent, sid) as (cm, am):
        mic, _ = track(audio_clip())
        await cm.publish("mic", mic)
        await am.wait_publication("mic")
        reply = await customer.request("media.mute", session=sid, source="mic", muted=True)
        assert reply["muted"] is True
        event = await wait_kind(agent, sid, "media.muted")
        assert event["data"]["muted"] is True
        deadline = time.monotonic() + 5
        while not any(p["muted"] for p in am.publications):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        with pytest.raises(RequestFailed) as err:
            await customer.request("media.mute", session=sid, source="camera", muted=True)
        assert err.value.code == "not_found"


@pytest.mark.parametrize(
    ("sdp", "message"),
    [
        ("hello", "an SDP must start with v=0"),
        ("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n", "the offer has no media sections"),
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", "media section 0 has no a=mid"),
        ("v=0\r\nm=video nine UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n", "bad port"),
        ("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\na=sendonly\r\n", "refused"),
    ],
)
async def test_a_malformed_offer_gets_bad_sdp_and_the_socket_survives(
    start_desk: StartDesk, sdp: str, message: str
):
    desk, agent, customer, sid = await accepted_pair(start_desk)
    with pytest.raises(RequestFailed) as err:
        await customer.request("media.offer", session=sid, sdp=sdp)
    assert err.value.code == "bad_sdp"
    assert message in err.value.message
    await customer.say("still here")


async def test_a_lost_media_path_falls_back_to_chat_and_recovers(start_desk: StartDesk):
    desk, agent, customer, sid = await accepted_pair(
        start_desk, media={"media_failure_grace_s": 1.0}
    )
    await agree(sid, agent, customer, "video")
    async with peers(customer, agent, sid) as (cm, am):
        cam, _ = track(video_clip())
        await cm.publish("camera", cam)
        await am.wait_publication("camera")
        await wait_kind(agent, sid, "media.connected")
        # the customer's network drops: its peer goes away without a word
        cam.stop()
        assert cm.pc is not None
        await cm.pc.close()
        failed = await wait_kind(agent, sid, "media.failed", timeout=15)
        assert failed["actor_role"] == "customer"
        state = await customer.wait_for(
            lambda m: m.get("type") == "media.state" and m["state"] == "failed"
        )
        assert state["owner"] == cm.you
        await customer.say("my video froze")
        await agent.wait_for(is_chat("my video froze"))
        # the customer's page offers again on a fresh connection
        again = MediaClient(customer, sid)
        await again.start()
        cam2, sent2 = track(video_clip())
        await again.publish("camera", cam2)
        await wait_kind(agent, sid, "media.recovered", timeout=15)
        deadline = time.monotonic() + 10
        while True:
            pubs = [p for p in am.publications if p["source"] == "camera"]
            got = am.received.get(pubs[0]["pub"]) if pubs else None
            if got is not None and got.count > 10:
                break
            assert time.monotonic() < deadline, "video did not come back"
            await asyncio.sleep(0.05)
        assert set(got.digests) <= set(sent2.digests)
        await again.close()
