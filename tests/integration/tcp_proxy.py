"""A TCP forwarder on loopback that a test can cut and restore: a network outage to order.

While cut, it resets every open connection and refuses new ones (its listening socket is
closed); restored, it listens on the same port again. The server behind it keeps
running, as a database does while the network to it is down. Frozen, it carries nothing
either way and closes nothing: a peer that vanished without a FIN or a reset (a closed
laptop lid, a NAT that forgot the flow). Only ``cut`` (or ``close``) ends a frozen
connection.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpProxy:
    def __init__(self, target_host: str, target_port: int, *, port: int) -> None:
        self.target = (target_host, target_port)
        self.port = port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self.frozen = False

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.frozen = False
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Drop every connection and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for w in list(self._pipes):
            transport = w.transport
            with contextlib.suppress(Exception):
                transport.abort()
        self._pipes.clear()
        if server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    def freeze(self) -> None:
        """Drop every byte from now on, both ways, and keep every connection open."""
        self.frozen = True

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.connections += 1
        self._pipes.update((writer, up_writer))
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if self.frozen:
                    continue  # lost on the way
                writer.write(data)
                await writer.drain()
        finally:
            if not self.frozen:  # a frozen network passes no FIN or reset on either
                self._pipes.discard(writer)
                with contextlib.suppress(Exception):
                    writer.transport.abort()
