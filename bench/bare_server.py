"""The ceiling for bench/chat_load.py: a bare aiohttp WebSocket relay.

It carries the same wire traffic as a livedesk chat and does nothing else: no
authentication, no session state machine, no store, no archive, no console.

* ``{"type": "hello", "id": n}``            -> ``{"type": "ok", "id": n, ...}``
* ``{"type": "join", "session": s, "id": n}`` -> the socket joins room ``s``; ``ok``
* ``{"type": "ping", "id": n}``             -> ``{"type": "ok", "id": n, "pong": t}``
* ``{"type": "chat.send", "session": s, "text": ..., "client_msg_id": c, "id": n}``
  -> an ``event`` frame shaped like livedesk's ``chat.message`` push, sent to every
  socket in room ``s`` (the sender too, as livedesk does), then an ``ok`` with the
  room's ``seq`` to the sender: one frame in, three out, like livedesk.

``GET /stats`` answers ``{"connections": n}``. Run it only on 127.0.0.1::

    python bench/bare_server.py --port 8099
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections import defaultdict

import msgspec
from aiohttp import WSMsgType, web

HOST = "127.0.0.1"

_decode = msgspec.json.Decoder(dict).decode
_encode = msgspec.json.Encoder().encode


class Relay:
    def __init__(self) -> None:
        self.rooms: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self.seq: dict[str, int] = defaultdict(int)
        self.connections = 0

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response({"connections": self.connections, "rooms": len(self.rooms)})

    async def ws(self, request: web.Request) -> web.StreamResponse:
        role = request.query.get("role", "customer")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=65536)
        await ws.prepare(request)
        self.connections += 1
        joined: set[str] = set()
        try:
            async for frame in ws:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    msg = _decode(frame.data)
                except msgspec.DecodeError:
                    await ws.send_str('{"type":"error","id":null,"code":"bad_json"}')
                    continue
                kind = msg.get("type")
                rid = msg.get("id")
                if kind == "chat.send":
                    room = msg["session"]
                    self.seq[room] += 1
                    seq = self.seq[room]
                    event = _encode(
                        {
                            "type": "event",
                            "session": room,
                            "seq": seq,
                            "event": {
                                "kind": "chat.message",
                                "at": time.time(),
                                "actor_role": role,
                                "actor_id": role,
                                "data": {
                                    "text": msg.get("text", ""),
                                    "name": "",
                                    "client_msg_id": msg.get("client_msg_id", ""),
                                },
                            },
                        }
                    ).decode()
                    for peer in list(self.rooms.get(room, ())):
                        with contextlib.suppress(ConnectionError, RuntimeError):
                            await peer.send_str(event)
                    reply = {
                        "type": "ok",
                        "id": rid,
                        "seq": seq,
                        "client_msg_id": msg.get("client_msg_id", ""),
                    }
                elif kind == "join":
                    room = msg["session"]
                    self.rooms[room].add(ws)
                    joined.add(room)
                    reply = {"type": "ok", "id": rid}
                elif kind == "ping":
                    reply = {"type": "ok", "id": rid, "pong": time.time()}
                else:  # hello and anything else
                    reply = {"type": "ok", "id": rid, "role": role}
                if rid is not None:
                    await ws.send_str(_encode(reply).decode())
        finally:
            self.connections -= 1
            for room in joined:
                members = self.rooms.get(room)
                if members is not None:
                    members.discard(ws)
                    if not members:
                        del self.rooms[room]
        return ws


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    relay = Relay()
    app = web.Application()
    app.router.add_get("/ws", relay.ws)
    app.router.add_get("/stats", relay.stats)
    app.router.add_get("/healthz", relay.stats)
    print(f"bare relay on http://{HOST}:{args.port}", flush=True)
    web.run_app(app, host=HOST, port=args.port, print=None, access_log=None, shutdown_timeout=2)


if __name__ == "__main__":
    main()
