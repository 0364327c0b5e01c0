"""Hostile connections: what a client can make the node's HTTP server do, measured on the wire."""

import socket
import threading
import time

import orjson
import uvicorn

from app.main import create_app
from app.settings import Settings
from tests.fixtures.node import RunningNode
from tests.fixtures.standin import free_port


def _exchange(port: int, request: bytes, timeout_s: float = 10) -> bytes:
    """Send raw bytes, read until the server closes the connection (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def _head(reply: bytes) -> str:
    return reply.partition(b"\r\n\r\n")[0].decode("latin-1").lower()


def test_an_unexpected_exception_is_a_clean_500_that_closes_the_connection(
    database_url: str, standin_url: str, tmp_path: object
) -> None:
    settings = Settings(_env_file=None, database_url=database_url, upstream_base_url=standin_url, announce=False)  # type: ignore[call-arg]
    api = create_app(settings)

    async def boom() -> None:
        raise RuntimeError("a bug")

    api.add_api_route("/boom", boom)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        # keep-alive asked for; the server must still say it closes, and close
        reply = _exchange(port, b"GET /boom HTTP/1.1\r\nHost: node\r\nConnection: keep-alive\r\n\r\n")
    finally:
        server.should_exit = True
        thread.join(timeout=15)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 500")
    assert "connection: close" in _head(reply)
    assert orjson.loads(body) == {
        "error": {"message": "internal error", "type": "server_error", "code": "internal_error"}
    }


def test_the_host_header_is_never_reflected_into_a_redirect(node: RunningNode) -> None:
    port = int(node.root.rsplit(":", 1)[1])
    reply = _exchange(port, b"GET /v1/models/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert b"evil.example" not in reply
    assert "location:" not in _head(reply)
