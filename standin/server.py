"""Start and stop the stand-in inside the running event loop (tests, the node's embedded mode, the CLI)."""

import asyncio
import functools
import socket

from standin.protocol import HttpConnection
from standin.routes import route


class StandinServer:
    def __init__(self, server: asyncio.Server, connections: set[HttpConnection], host: str, port: int) -> None:
        self._server = server
        self._connections = connections
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:8001/v1."""
        return f"http://{self.host}:{self.port}/v1"

    async def serve_forever(self) -> None:
        await self._server.serve_forever()

    async def close(self) -> None:
        """Stop listening and cut every open connection, including hanging ones."""
        self._server.close()
        for connection in list(self._connections):
            connection.abort()
        await self._server.wait_closed()


async def start_standin(host: str, port: int) -> StandinServer:
    """Listen on host:port (0 = a free port) and serve in the background of the current loop."""
    connections: set[HttpConnection] = set()
    factory = functools.partial(HttpConnection, route, connections)
    server = await asyncio.get_running_loop().create_server(factory, host, port, reuse_address=True, backlog=2048)
    bound_port = port or _bound_port(server)
    return StandinServer(server, connections, host, bound_port)


def _bound_port(server: asyncio.Server) -> int:
    sock: socket.socket = server.sockets[0]
    return int(sock.getsockname()[1])
