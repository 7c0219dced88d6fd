"""A participant's socket going away: the session notes it and the other side is told.

The server pings every socket (``limits.ws_heartbeat_s``). A browser that vanished
without closing (a closed laptop lid, a dropped network: no FIN ever arrives) stops
answering, and aiohttp closes its socket half a heartbeat after the unanswered ping.
When the last socket of a participant of an active session goes, whatever the cause, the
session's timeline gets ``participant.disconnected`` with ``side`` and ``reason``:

- ``timeout``: it stopped answering the heartbeat (the vanished browser);
- ``lost``: the connection broke without a closing handshake (a reset);
- ``closed``: it was closed with a handshake (a page closed or reloaded, or the server
  closed it: too slow, abusive).

The other side receives it like any event, and ``participant.reconnected`` follows when
that participant says hello again. The session keeps who is away
(``Interaction.away``), so each loss and each return is noted once, whichever node sees it.

A socket that did not close cleanly (``timeout``, ``lost``) also takes that participant's
media on this node down: their peer connection is closed and their publications are
withdrawn (``media.closed`` with reason ``connection lost``), so nothing is forwarded to
or from a browser that is gone. A clean close leaves the call alone: a page that only
reopens its socket keeps its media, and a closed page's peer fails by itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from aiohttp import WSCloseCode, web

from signaling import interaction as ix
from signaling.errors import LivedeskError
from signaling.interaction import Actor, SessionState

if TYPE_CHECKING:
    from signaling.connection import Connection
    from signaling.node import Node

log = structlog.get_logger("livedesk.liveness")

LOST_MEDIA_REASON = "connection lost"


def close_reason(ws: web.WebSocketResponse) -> str:
    """How a socket ended: ``timeout``, ``lost`` or ``closed`` (see the module doc)."""
    exc = ws.exception()
    if isinstance(exc, TimeoutError):  # aiohttp's heartbeat: no pong in time
        return "timeout"
    if exc is not None or ws.close_code in (None, WSCloseCode.ABNORMAL_CLOSURE):
        return "lost"
    return "closed"


def _side(conn: Connection) -> str:
    return "customer" if conn.participant is not None else "agent"


def _takes_part(conn: Connection, inter: ix.Interaction) -> bool:
    """Whether this socket's person is the session's customer or its assigned agent."""
    if conn.participant is not None:
        return inter.customer_id == conn.participant.customer_id
    return conn.staff is not None and inter.agent_id == conn.staff.username


def _still_here(node: Node, gone: Connection, session_id: str) -> bool:
    """Another ready socket of the same person follows the session on this node."""
    for c in node.connections:
        if c is gone or not c.ready or session_id not in c.feeds:
            continue
        if gone.participant is not None and c.participant is not None:
            if c.participant.customer_id == gone.participant.customer_id:
                return True
        elif gone.staff is not None and c.staff is not None:
            if c.staff.username == gone.staff.username:
                return True
    return False


async def socket_lost(node: Node, conn: Connection, sessions: list[str], reason: str) -> None:
    """``conn`` closed (``reason``); ``sessions``: the ones it followed."""
    try:
        actor = conn.actor
        for session_id in sessions:
            await _lost_in(node, conn, actor, session_id, reason)
    except LivedeskError as exc:  # the session moved on, or the store is away
        log.info("lost socket not noted", code=exc.code, reason=reason)
    except Exception:
        log.exception("noting a lost socket failed")


async def _lost_in(
    node: Node, conn: Connection, actor: Actor, session_id: str, reason: str
) -> None:
    if _still_here(node, conn, session_id):
        return
    desk = node.desk
    inter = await desk.store.get_session(session_id)
    if inter is None or inter.state != SessionState.ACTIVE or not _takes_part(conn, inter):
        return
    side = _side(conn)
    note = ix.Note("participant.disconnected", {"side": side, "reason": reason})
    await desk.apply(session_id, note, ix.SYSTEM)
    log.info("participant disconnected", session_id=session_id, side=side, reason=reason)
    if _still_here(node, conn, session_id):  # back while the note was written
        await desk.apply(session_id, ix.Note("participant.reconnected", {"side": side}), ix.SYSTEM)
        return
    media = node.media
    if reason == "closed" or media is None or media.plane.room(session_id) is None:
        return
    from signaling.media import media_key

    await media.plane.hangup(session_id, media_key(session_id, actor), reason=LOST_MEDIA_REASON)


async def came_back(node: Node, conn: Connection, session_id: str) -> None:
    """``conn`` said hello: note the return of a participant the session counts as away."""
    try:
        inter = await node.desk.store.get_session(session_id)
        side = _side(conn)
        if inter is None or side not in inter.away or not _takes_part(conn, inter):
            return
        note = ix.Note("participant.reconnected", {"side": side})
        await node.desk.apply(session_id, note, ix.SYSTEM)
    except LivedeskError as exc:
        log.info("return not noted", session_id=session_id, code=exc.code)
    except Exception:
        log.exception("noting a return failed", session_id=session_id)
