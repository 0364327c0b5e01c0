"""A few lines of raw HTTP/1.1 over a socket, to see the stand-in's framing byte by byte."""

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson


@dataclass
class ChunkedBody:
    head: bytes
    chunks: list[bytes]
    terminated: bool


def address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def post_request(path: str, body: dict[str, object], close: bool = True) -> bytes:
    data = orjson.dumps(body)
    connection = b"connection: close\r\n" if close else b""
    return b"POST %s HTTP/1.1\r\nhost: standin\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        path.encode(),
        len(data),
        connection,
        data,
    )


def exchange(base_url: str, raw_request: bytes, timeout_s: float = 3.0) -> bytes:
    """Send the bytes, read until the server closes the connection."""
    with socket.create_connection(address(base_url), timeout=timeout_s) as sock:
        sock.sendall(raw_request)
        received = bytearray()
        while chunk := sock.recv(65536):
            received += chunk
        return bytes(received)


def parse_chunked(raw: bytes) -> ChunkedBody:
    head, _, rest = raw.partition(b"\r\n\r\n")
    chunks: list[bytes] = []
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return ChunkedBody(head, chunks, terminated=rest == b"\r\n")
        chunks.append(rest[:size])
        assert rest[size : size + 2] == b"\r\n"
        rest = rest[size + 2 :]
    return ChunkedBody(head, chunks, terminated=False)


def sse_payloads(chunks: list[bytes]) -> list[object]:
    """Each HTTP chunk must hold exactly one `data: ...` event."""
    payloads: list[object] = []
    for chunk in chunks:
        assert chunk.startswith(b"data: ") and chunk.endswith(b"\n\n"), chunk
        data = chunk[len(b"data: ") : -2]
        payloads.append(data.decode() if data == b"[DONE]" else orjson.loads(data))
    return payloads
