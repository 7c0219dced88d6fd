"""What a track file holds, read back without decoding: for files a crash left behind."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from recorder.track import TrackStats


def probe_track(path: Path, *, open_input: Callable[[Path], Any] | None = None) -> TrackStats:
    """Count the packets of a track file up to where it can be read (blocking).

    A file cut off by a crash ends in a partial cluster; demuxing stops there and the
    figures cover what is readable. A file that cannot be opened at all reports why in
    ``error`` with zero frames.
    """
    st = TrackStats()
    if not path.exists():
        st.error = "file missing"
        return st
    st_size = path.stat().st_size
    try:
        src = open_input(path) if open_input is not None else str(path)
        with av.open(src) as container:
            stream = container.streams[0]
            tb = stream.time_base
            for packet in container.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                ms = int(packet.pts * tb * 1000) if tb is not None else int(packet.pts)
                st.frames += 1
                st.bytes += packet.size
                if packet.is_keyframe:
                    st.keyframes += 1
                    st.last_keyframe = st.frames
                if st.first_ms is None:
                    st.first_ms = ms
                st.last_ms = ms
    except (av.FFmpegError, OSError, ValueError) as exc:
        if st.frames == 0:
            st.error = f"unreadable: {exc}"
    if st.frames == 0 and not st.error:
        st.error = "no frames" if st_size else "empty file"
    return st
