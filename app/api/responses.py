"""Response shapes the web layer sends: orjson bodies, and streams that settle even when never iterated."""

from typing import Any

import orjson
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.errors import error_body, note_shown
from app.errors import NodeError
from app.proxy.calls import Endpoint
from app.proxy.streams import MeteredStream


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status, headers, media_type="application/json")


DONE_EVENT = b"data: [DONE]\n\n"


class MeteredStreamingResponse(StreamingResponse):
    """Settles the stream when the response ends, also when the client left before the first byte. Sends each batch
    of events as it comes, straight from the metered stream (no generator in between: one fewer hop per chunk)."""

    def __init__(self, stream: MeteredStream, media_type: str, headers: dict[str, str]) -> None:
        self._failures: list[NodeError] = []
        super().__init__((), media_type=media_type, headers=headers)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stream.finish()
            if self._failures:  # counted by app.api.metrics like an error reply
                note_shown(scope, self._failures[0])

    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for events in self._stream.body():
                await send({"type": "http.response.body", "body": events, "more_body": True})
        except NodeError as failure:
            # a failure after the headers left ends the stream with an error event, which OpenAI's SDKs raise
            self._failures.append(failure)
            await send({"type": "http.response.body", "body": _error_event(self._stream, failure), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _error_event(stream: MeteredStream, failure: NodeError) -> bytes:
    if stream.endpoint is Endpoint.MESSAGES:  # Anthropic's SDKs raise on an `error` event, and know no [DONE]
        return b"event: error\ndata: " + orjson.dumps({"type": "error", **error_body(failure)}) + b"\n\n"
    return b"data: " + orjson.dumps(error_body(failure)) + b"\n\n" + DONE_EVENT
