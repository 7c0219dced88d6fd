"""The review rendering: one video of a recorded session, made after it by a worker process.

It reads the per-track files (the encoded frames as received), decodes them with PyAV,
lays them out with OpenCV and encodes one MP4 (H.264 and AAC) a reviewer can play and
seek in any browser:

- the agent's camera on the left and the customer's on the right; while someone shares
  a screen, the screen large on the left and both cameras stacked on the right;
- each participant's side and name under their picture, the session clock (H:MM:SS)
  top right, and "Recording paused" across the top during a paused span;
- every microphone mixed into one audio track, each sample placed at its time on the
  session clock, so picture and sound stay together (what a file holds is on one clock,
  see recorder/layout.py).

A missing, empty or cut-off track is skipped from where it fails, with a warning; the
rendering covers what can be decoded. ``python -m recorder.render DIR`` is what the
server runs (signaling/recording_jobs.py): it prints its progress as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any, NamedTuple

import av
import cv2
import numpy as np

from recorder import layout
from recorder.layout import Manifest, TrackInfo

RATE = 48_000
STALE_MS = 1000
"""A camera with no new frame for this long is shown as off."""
SCREEN_STALE_MS = 2000
THUMBS, THUMB_W, THUMB_H = 8, 160, 90
FONT = cv2.FONT_HERSHEY_SIMPLEX


class RenderError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RenderResult(NamedTuple):
    duration_s: float
    frames: int
    has_audio: bool
    start_ms: int
    end_ms: int
    tracks_used: list[str]
    warnings: list[str]


Opener = Callable[[Path], Any]


def _span(path: Path, opener: Opener) -> tuple[int, int] | None:
    """First and last timestamp (ms) readable in a track file, without decoding."""
    first = last = None
    try:
        with av.open(opener(path)) as c:
            s = c.streams[0]
            tb = s.time_base or Fraction(1, 1000)
            for p in c.demux(s):
                if p.size and p.pts is not None:
                    ms = int(p.pts * tb * 1000)
                    first = ms if first is None else first
                    last = ms
    except (av.FFmpegError, OSError, ValueError):
        pass  # a cut-off file: what came before counts
    return None if first is None or last is None else (first, last)


class _Lane:
    """One track being decoded in order, on the session clock."""

    def __init__(self, info: TrackInfo, path: Path, opener: Opener, warnings: list[str]) -> None:
        self.info = info
        self.warnings = warnings
        self.frame: np.ndarray | None = None
        self.frame_ms = -(10**9)
        self._container = av.open(opener(path))
        self._frames = self._decode()
        self._next: tuple[int, Any] | None = None
        self.done = False
        self._pull()

    def _decode(self) -> Iterator[tuple[int, Any]]:
        stream = self._container.streams[0]
        tb = stream.time_base or Fraction(1, 1000)
        try:
            for packet in self._container.demux(stream):
                if not packet.size or packet.pts is None:
                    continue
                for frame in packet.decode():
                    yield int(packet.pts * tb * 1000), frame
        except (av.FFmpegError, ValueError) as exc:
            self.warnings.append(f"track {self.info.id} ({self.info.source}): stopped at {exc}")

    def _pull(self) -> None:
        self._next = next(self._frames, None)
        if self._next is None:
            self.done = True
            self._container.close()

    def close(self) -> None:
        if not self.done:
            self._container.close()
            self.done = True


class _VideoLane(_Lane):
    def advance(self, t_ms: float) -> None:
        """Decode up to ``t_ms``; keep the latest picture at or before it."""
        newest = None
        while self._next is not None and self._next[0] <= t_ms:
            newest = self._next
            self._pull()
        if newest is not None:
            self.frame_ms = newest[0]
            self.frame = newest[1].to_ndarray(format="bgr24")

    def current(self, t_ms: float, stale_ms: int) -> np.ndarray | None:
        return self.frame if self.frame is not None and t_ms - self.frame_ms <= stale_ms else None


class _AudioLane(_Lane):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        self._pieces: list[tuple[int, np.ndarray]] = []  # (first sample on the clock, pcm)

    def mix_into(self, out: np.ndarray, first: int, origin_ms: int) -> None:
        """Add this track's samples for [first, first + len(out)) to ``out``."""
        end = first + len(out)
        while self._next is not None and self._sample(self._next[0], origin_ms) < end:
            ms, frame = self._next
            pcm = np.concatenate(
                [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
                or [np.zeros(0, np.int16)]
            )
            self._pieces.append((self._sample(ms, origin_ms), pcm.astype(np.int32)))
            self._pull()
        kept = []
        for at, pcm in self._pieces:
            lo, hi = max(at, first), min(at + len(pcm), end)
            if lo < hi:
                out[lo - first : hi - first] += pcm[lo - at : hi - at]
            if at + len(pcm) > end:
                kept.append((at, pcm))
        self._pieces = kept

    @staticmethod
    def _sample(ms: int, origin_ms: int) -> int:
        return (ms - origin_ms) * RATE // 1000


# ---------------------------------------------------------------- drawing


def _ascii(text: str) -> str:
    """cv2's fonts draw ASCII only: anything else becomes '?'."""
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)


def _label(info: TrackInfo) -> str:
    side = "Agent" if info.side == "agent" else "Customer"
    name = _ascii(info.name).strip()
    return f"{side}: {name}" if name and name.count("?") < len(name) / 2 else side


def _fit(img: np.ndarray, w: int, h: int) -> tuple[np.ndarray, int, int]:
    """``img`` scaled to fit w x h, keeping its shape; and where it goes in the box."""
    ih, iw = img.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(2, int(iw * scale)), max(2, int(ih * scale))
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA), (w - nw) // 2, (h - nh) // 2


def _tile(
    canvas: np.ndarray, box: tuple[int, int, int, int], img: np.ndarray | None, label: str
) -> None:
    x, y, w, h = box
    if img is None:
        canvas[y : y + h, x : x + w] = (48, 48, 48)
        size = cv2.getTextSize("camera off", FONT, 0.6, 1)[0]
        org = (x + (w - size[0]) // 2, y + h // 2)
        cv2.putText(canvas, "camera off", org, FONT, 0.6, (170, 170, 170), 1, cv2.LINE_AA)
    else:
        fitted, dx, dy = _fit(img, w, h)
        canvas[y + dy : y + dy + fitted.shape[0], x + dx : x + dx + fitted.shape[1]] = fitted
    scale = 0.5 if w < 500 else 0.7
    (tw, th), _ = cv2.getTextSize(label, FONT, scale, 1)
    y0 = y + h - th - 14
    cv2.rectangle(canvas, (x + 6, y0), (x + 18 + tw, y + h - 6), (0, 0, 0), -1)
    cv2.putText(canvas, label, (x + 12, y + h - 12), FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _clock(ms: float) -> str:
    s = max(0, int(ms // 1000))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Layout:
    def __init__(self, width: int, height: int) -> None:
        self.w, self.h = width, height

    def draw(
        self,
        t_ms: float,
        cams: dict[str, tuple[np.ndarray | None, str]],
        screen: tuple[np.ndarray, str] | None,
        paused: bool,
    ) -> np.ndarray:
        w, h = self.w, self.h
        canvas = np.zeros((h, w, 3), np.uint8)
        agent, customer = cams["agent"], cams["customer"]
        if screen is None:
            half = w // 2
            _tile(canvas, (0, 0, half, h), agent[0], agent[1])
            _tile(canvas, (half, 0, w - half, h), customer[0], customer[1])
        else:
            big = (w * 3 // 4) & ~1
            _tile(canvas, (0, 0, big, h), screen[0], screen[1])
            _tile(canvas, (big, 0, w - big, h // 2), agent[0], agent[1])
            _tile(canvas, (big, h // 2, w - big, h - h // 2), customer[0], customer[1])
        if paused:
            canvas //= 3
            text = "Recording paused"
            (tw, th), _ = cv2.getTextSize(text, FONT, 1.0, 2)
            x0 = (w - tw) // 2
            cv2.rectangle(canvas, (x0 - 16, 12), (x0 + tw + 16, 24 + th + 12), (0, 0, 160), -1)
            cv2.putText(canvas, text, (x0, 24 + th), FONT, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
        clock = _clock(t_ms)
        (cw, ch), _ = cv2.getTextSize(clock, FONT, 0.7, 2)
        cv2.rectangle(canvas, (w - cw - 24, 8), (w - 8, 20 + ch + 8), (0, 0, 0), -1)
        cv2.putText(
            canvas, clock, (w - cw - 16, 20 + ch), FONT, 0.7, (255, 255, 255), 2, cv2.LINE_AA
        )
        return canvas


# ---------------------------------------------------------------- the rendering


def render_review(
    session_dir: Path,
    manifest: Manifest,
    *,
    out: Path,
    thumbs: Path | None,
    fps: int = 15,
    width: int = 1280,
    height: int = 720,
    progress: Callable[[float], None] | None = None,
    open_input: Opener | None = None,
) -> RenderResult:
    """Render ``manifest``'s tracks into ``out`` (MP4); blocking, for a worker process."""
    opener: Opener = open_input or (lambda p: str(p))
    warnings: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    paths: dict[str, Path] = {}
    for info in manifest.tracks:
        found = layout.track_path(session_dir, info.file)
        if found is None:
            why = layout.track_unreadable(session_dir, info.file)
            warnings.append(f"track {info.id} ({info.side} {info.source}): {why}")
            continue
        path = paths[info.id] = found
        span = _span(path, opener)
        if span is None:
            warnings.append(f"track {info.id} ({info.side} {info.source}): nothing readable")
            continue
        spans[info.id] = span
    if not spans:
        raise RenderError("nothing_recorded", "no track of this recording can be read")
    start = min(a for a, _ in spans.values())
    end = max(b for _, b in spans.values())
    step = 1000 / fps
    count = max(1, int((end - start) / step) + 1)

    video: list[_VideoLane] = []
    audio: list[_AudioLane] = []
    for info in manifest.tracks:
        if info.id not in spans:
            continue
        try:
            if info.kind == "video":
                video.append(_VideoLane(info, paths[info.id], opener, warnings))
            else:
                audio.append(_AudioLane(info, paths[info.id], opener, warnings))
        except (av.FFmpegError, OSError, ValueError) as exc:
            warnings.append(f"track {info.id}: cannot open: {exc}")
    names = {
        side: next((_label(t) for t in manifest.tracks if t.side == side), side.title())
        for side in ("agent", "customer")
    }
    paused = [(a * 1000, (b if b is not None else end / 1000) * 1000) for a, b in manifest.paused]

    tmp = out.with_name(out.name + ".part")
    container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
    vs = container.add_stream("libx264", rate=fps)
    vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
    vs.options = {"preset": "veryfast", "crf": "26"}
    aus = container.add_stream("aac", rate=RATE)
    aus.layout = "mono"
    draw = _Layout(width, height)
    thumb_at = {int(i * (count - 1) / max(1, THUMBS - 1)) for i in range(THUMBS)}
    shots: dict[int, np.ndarray] = {}
    samples_done = 0
    last_report = 0.0
    try:
        for i in range(count):
            t = start + i * step
            for lane in video:
                lane.advance(t)
            cams: dict[str, tuple[np.ndarray | None, str]] = {}
            for side in ("agent", "customer"):
                fresh = [
                    (lane.frame_ms, lane.current(t, STALE_MS), _label(lane.info))
                    for lane in video
                    if lane.info.side == side and lane.info.source == "camera"
                ]
                live = [f for f in fresh if f[1] is not None]
                cams[side] = max(live, key=lambda f: f[0])[1:] if live else (None, names[side])
            screens = [
                (lane.frame_ms, lane.current(t, SCREEN_STALE_MS), lane.info)
                for lane in video
                if lane.info.source == "screen"
            ]
            live_screens = [s for s in screens if s[1] is not None]
            screen: tuple[np.ndarray, str] | None = None
            if live_screens:
                _, img, info = max(live_screens, key=lambda s: s[0])
                if img is not None:
                    screen = (img, _label(info) + " - screen")
            is_paused = any(a <= t < b for a, b in paused)
            canvas = draw.draw(t, cams, screen, is_paused)
            if i in thumb_at:
                shots[i] = cv2.resize(canvas, (THUMB_W, THUMB_H), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                container.mux(packet)
            # the sound for this picture's slot, on the same clock
            upto = (i + 1) * RATE // fps
            mix = np.zeros(upto - samples_done, np.int32)
            for alane in audio:
                alane.mix_into(mix, samples_done, start)
            pcm = np.clip(mix, -32768, 32767).astype(np.int16).reshape(1, -1)
            aframe = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
            aframe.sample_rate = RATE
            aframe.pts = samples_done
            aframe.time_base = Fraction(1, RATE)
            for packet in aus.encode(aframe):
                container.mux(packet)
            samples_done = upto
            if progress is not None and time.monotonic() - last_report > 0.1:
                last_report = time.monotonic()
                progress(round(i / count, 4))
        for packet in vs.encode(None):
            container.mux(packet)
        for packet in aus.encode(None):
            container.mux(packet)
    finally:
        container.close()
        for any_lane in [*video, *audio]:
            any_lane.close()
    tmp.replace(out)
    if thumbs is not None and shots:
        strip = np.hstack([shots[k] for k in sorted(shots)])
        ok, jpg = cv2.imencode(".jpg", strip, [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            part = thumbs.with_name(thumbs.name + ".part")
            part.write_bytes(jpg.tobytes())
            part.replace(thumbs)
    if progress is not None:
        progress(1.0)
    used = [any_lane.info.id for any_lane in [*video, *audio]]
    return RenderResult(
        duration_s=count / fps,
        frames=count,
        has_audio=bool(audio),
        start_ms=start,
        end_ms=end,
        tracks_used=used,
        warnings=warnings,
    )


# ---------------------------------------------------------------- command line


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m recorder.render", description=__doc__)
    ap.add_argument("session_dir", type=Path)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--key-file", type=Path, help="the key that unwraps sealed tracks")
    args = ap.parse_args(argv)
    opener: Opener | None = None
    try:
        if args.key_file is not None:
            from recorder.sealed import SealedReader, load_kek

            kek = load_kek(args.key_file)

            def opener(p: Path) -> Any:
                return SealedReader(p, kek) if p.name.endswith(".sealed") else str(p)

        manifest = layout.read_manifest(args.session_dir)
        result = render_review(
            args.session_dir,
            manifest,
            out=args.session_dir / layout.REVIEW,
            thumbs=args.session_dir / layout.THUMBS,
            fps=args.fps,
            width=args.width,
            height=args.height,
            progress=lambda p: _emit({"progress": p}),
            open_input=opener,
        )
    except RenderError as exc:
        _emit({"error": exc.code, "message": exc.message})
        return 2
    except Exception as exc:  # reported to the job runner, which records it
        _emit({"error": "internal", "message": f"{type(exc).__name__}: {exc}"})
        return 1
    _emit(
        {
            "done": True,
            "duration_s": result.duration_s,
            "frames": result.frames,
            "has_audio": result.has_audio,
            "start_ms": result.start_ms,
            "warnings": result.warnings,
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
