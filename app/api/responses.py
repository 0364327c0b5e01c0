"""Response shapes the web layer sends: orjson bodies, and streams that settle even when never iterated."""

from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.errors import error_body
from app.errors import NodeError
from app.proxy.calls import Endpoint
from app.proxy.streams import MeteredStream


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


DONE_EVENT = b"data: [DONE]\n\n"


class MeteredStreamingResponse(StreamingResponse):
    """Settles the stream when the response ends, also when the client left before the first byte."""

    def __init__(self, stream: MeteredStream, media_type: str, headers: dict[str, str]) -> None:
        super().__init__(_events_then_error(stream), media_type=media_type, headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.finish()


async def _events_then_error(stream: MeteredStream) -> AsyncIterator[bytes]:
    """A failure after the headers left ends the stream with an error event, which OpenAI's SDKs raise."""
    try:
        async for events in stream.body():
            yield events
    except NodeError as failure:
        if stream.endpoint is Endpoint.MESSAGES:  # Anthropic's SDKs raise on an `error` event, and know no [DONE]
            yield b"event: error\ndata: " + orjson.dumps({"type": "error", **error_body(failure)}) + b"\n\n"
            return
        yield b"data: " + orjson.dumps(error_body(failure)) + b"\n\n" + DONE_EVENT
