"""Path traversal against every endpoint that serves files, as raw HTTP requests.

The requests go over a plain socket, byte for byte as written here, because aiohttp's
client (like browsers) would normalise ``..`` and percent-escapes away before sending.
A secret is planted outside every served directory; no answer may contain it, and none
may be a 200. Served files and the places that read them:

- ``/static/{filename}``: aiohttp's static handler over ``web/static`` (here a copy, so
  that symlinks can be planted in it without touching the source tree);
- ``/vendor/{name}``: a fixed table of two npm files;
- ``/api/recordings/{session}/files/{name}`` and the QA pages, which read a recording's
  timeline and transcript from ``<data_dir>/recordings/<session>``: names the server
  made, resolved, and refused when they lead outside that directory (symlinks too);
- ``/l/{entry}``, ``/demo/shop/{page}``: templates picked from fixed names.

``test_recording.py::test_file_paths_cannot_leave_the_recordings_directory`` has the
first list of recording-file attempts; this file adds the encodings it lacks.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest

import web as web_assets
from recorder import layout

from .conftest import StartDesk
from .test_recording import login, recorded_session

pytestmark = pytest.mark.parametrize("store_kind", ["memory"])


async def raw(base: str, target: str, *, cookie: str = "") -> tuple[int, bytes]:
    """Send ``GET <target> HTTP/1.1`` exactly as given; the status and the whole answer."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
    if cookie:
        head += f"Cookie: {cookie}\r\n"
    writer.write((head + "\r\n").encode("latin-1"))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def escapes(up: int, name: str) -> list[str]:
    """``up`` levels up, then ``name``, in every spelling a server might decode late."""
    return [
        "../" * up + name,
        "./" + "../" * up + name,
        "%2e%2e/" * up + name,
        "%2E%2E/" * up + name,
        "%2e%2e%2f" * up + name,
        "..%2f" * up + name,
        "..%2F" * up + name,
        ".%2e/" * up + name,
        "..%252f" * up + name,  # double-encoded
        "%252e%252e%252f" * up + name,
        "%25%32%65%25%32%65%25%32%66" * up + name,
        "..\\" * up + name,  # backslashes
        "..%5c" * up + name,
        "..%255c" * up + name,
        "%c0%ae%c0%ae/" * up + name,  # overlong UTF-8 dots
        "%c0%ae%c0%ae%c0%af" * up + name,
        "....//" * up + name,
        "..;/" * up + name,
        "../" * up + name + "%00",  # NUL bytes
        "../" * up + name + "%00.js",
        "%00/" + "../" * up + name,
    ]


def absolutes(path: Path) -> list[str]:
    text = str(path)
    return [
        "/" + text,
        "%2f" + text.lstrip("/").replace("/", "%2f"),
        "%252f" + text.lstrip("/").replace("/", "%252f"),
        "\\" + text.replace("/", "\\"),
        "file:" + text,
    ]


def assert_nothing_leaks(status: int, answer: bytes, secrets_: list[str], target: str) -> None:
    assert status in (400, 403, 404), (target, status, answer[:200])
    for secret in secrets_:
        assert secret.encode() not in answer, (target, status)


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A secret outside every served directory, a copy of web/static serving in place of
    the real one, and symlinks in that copy that lead out of it."""
    marker = "LEAKED-" + secrets.token_hex(8)
    outside = tmp_path / "outside-secret.txt"
    outside.write_text(marker)
    static = tmp_path / "static"
    shutil.copytree(web_assets.STATIC, static)
    (static / "link-out.txt").symlink_to(outside)
    (static / "dir-out").symlink_to(tmp_path)
    (static / "etc").symlink_to("/etc")
    monkeypatch.setattr(web_assets, "STATIC", static)
    return {"marker": marker, "outside": outside, "static": static, "tmp": tmp_path}


async def test_static_files_never_leave_the_static_directory(
    start_desk: StartDesk, planted: dict[str, Any]
) -> None:
    desk = await start_desk()
    marker = planted["marker"]
    (desk.cfg.data_path / "planted.txt").write_text(marker)  # the data directory too
    status, answer = await raw(desk.base, "/static/common.js")
    assert status == 200 and b"livedesk" in answer  # the harness serves the copy
    targets = [
        *("/static/" + t for t in escapes(1, "outside-secret.txt")),
        *("/static/" + t for t in escapes(1, "data0/planted.txt")),
        *("/static/" + t for t in escapes(2, "static/../outside-secret.txt")),
        *("/static/" + t for t in absolutes(planted["outside"])),
        *("/static/" + t for t in absolutes(Path("/etc/passwd"))),
        "/static/link-out.txt",  # symlinks that lead out
        "/static/dir-out/outside-secret.txt",
        "/static/dir-out/data0/planted.txt",
        "/static/etc/passwd",
        "/static/%2e%2e",
        "/static/..",
        "/static/",
        "/static/common.js%00",
        "/static/common.js%00.txt",
        f"http://{desk.base.removeprefix('http://')}/static/../outside-secret.txt",
        "/static/../../outside-secret.txt",
        "/outside-secret.txt",
    ]
    for target in targets:
        status, answer = await raw(desk.base, target)
        assert_nothing_leaks(status, answer, [marker, "root:x:0:0"], target)


async def test_vendor_files_are_only_the_two_named_ones(start_desk: StartDesk) -> None:
    desk = await start_desk()
    status, answer = await raw(desk.base, "/vendor/rrweb.js")
    assert status == 200 and b"rrweb" in answer
    # what lies next to the vendored package: this repository's own sources
    source = (Path(__file__).parents[2] / "signaling" / "auth.py").read_text()
    marker = source.split("\n")[0]
    assert marker
    targets = [
        *("/vendor/" + t for t in escapes(3, "signaling/auth.py")),
        *("/vendor/" + t for t in escapes(1, "package.json")),
        *("/vendor/" + t for t in escapes(1, "rrweb/package.json")),
        *("/vendor/" + t for t in absolutes(Path("/etc/passwd"))),
        "/vendor/rrweb.js%00",
        "/vendor/rrweb.js%2f..%2f..%2fpackage.json",
        "/vendor/rrweb%2fdist%2frrweb.js",
        "/vendor/rrweb/dist/rrweb.js",
    ]
    for target in targets:
        status, answer = await raw(desk.base, target)
        assert_nothing_leaks(status, answer, [marker, "root:x:0:0", '"devDependencies"'], target)


async def test_pages_named_in_the_path_are_only_templates(start_desk: StartDesk) -> None:
    desk = await start_desk()
    source = (Path(__file__).parents[2] / "web" / "templates" / "base.html").read_text()
    marker = next(line for line in source.splitlines() if "{%" in line or "{{" in line)
    targets = [
        *("/l/" + t for t in escapes(2, "templates/base.html")),
        *("/demo/shop/" + t for t in escapes(2, "templates/base.html")),
        *("/demo/shop/" + t for t in absolutes(Path("/etc/passwd"))),
        "/l/demo%00",
        "/demo/shop/cart%00",
    ]
    for target in targets:
        status, answer = await raw(desk.base, target)
        assert_nothing_leaks(status, answer, [marker, "root:x:0:0"], target)


async def test_recording_files_and_qa_pages_never_follow_a_path_out(
    start_desk: StartDesk, tmp_path: Path
) -> None:
    """Raw traversal in every spelling against the recording endpoints; then the
    recording's timeline, transcript and co-browse files are swapped for symlinks to
    files outside the data directory that hold a secret: neither the file endpoints nor
    the QA page may show it."""
    desk, sid = await recorded_session(start_desk)
    qa = await login(desk, "qa_quinn")
    cookie = "; ".join(f"{c.key}={c.value}" for c in qa.cookie_jar)
    marker = "LEAKED-" + secrets.token_hex(8)
    (desk.cfg.data_path / "planted.txt").write_text(marker)
    base = f"/api/recordings/{sid}/files/"
    targets = [
        *(base + t for t in escapes(3, "planted.txt")),
        *(base + t for t in escapes(1, "manifest.json")),
        *(base + t for t in absolutes(desk.cfg.data_path / "planted.txt")),
        *(f"/api/recordings/{t}/files/timeline" for t in escapes(2, "planted.txt")),
        *(f"/api/recordings/{t}" for t in escapes(2, "planted.txt")),
        *(f"/qa/recordings/{t}" for t in escapes(2, "planted.txt")),
        f"/qa/recordings/{sid}%00",
        f"/qa/recordings/{sid}%2f..%2f..%2fplanted.txt",
    ]
    for target in targets:
        status, answer = await raw(desk.base, target, cookie=cookie)
        assert_nothing_leaks(status, answer, [marker], target)
    status, page = await raw(desk.base, f"/qa/recordings/{sid}", cookie=cookie)
    assert status == 200 and b"my parcel never arrived" in page  # the real timeline shows

    # the recording's own files become symlinks to a secret outside the data directory
    outside = tmp_path / "outside"
    outside.mkdir()
    line = {"t": 1.0, "kind": "chat.message", "actor": "customer", "data": {"text": marker}}
    (outside / "timeline.jsonl").write_text(json.dumps(line) + "\n")
    segments = [{"start": 0.5, "end": 1.0, "speaker": "customer", "text": marker}]
    (outside / "transcript.json").write_text(json.dumps({"segments": segments}))
    (outside / "transcript.vtt").write_text(f"WEBVTT\n\n00:00.500 --> 00:01.000\n{marker}\n")
    (outside / "cobrowse-1700000000000.jsonl").write_text(json.dumps({"text": marker}) + "\n")
    directory = layout.session_dir(desk.cfg.data_path, sid)
    for name in (
        "timeline.jsonl",
        "transcript.json",
        "transcript.vtt",
        "cobrowse-1700000000000.jsonl",
    ):
        (directory / name).unlink(missing_ok=True)
        (directory / name).symlink_to(outside / name)
    for name in ("timeline", "transcript", "vtt", "cobrowse"):
        status, answer = await raw(desk.base, base + name, cookie=cookie)
        assert marker.encode() not in answer, name
        assert status == 404, (name, status)
    status, page = await raw(desk.base, f"/qa/recordings/{sid}", cookie=cookie)
    assert status == 200
    assert marker.encode() not in page
