"""A streamed reply passed to the client event by event, metered on the way, settled exactly once at its end:
finished, dropped by the upstream, cut off for outgrowing its reservation, or abandoned by the client."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing

import orjson

from app.errors import NodeError
from app.pricing.prices import Usage
from app.proxy.calls import LlmCall
from app.proxy.metering import SseMeter
from app.upstream.client import UpstreamReply

log = logging.getLogger(__name__)

Settle = Callable[[Usage | None], Awaitable[None]]

DONE_EVENT = b"data: [DONE]\n\n"


class ReplyOverBudget(NodeError):
    status = 502
    type = "upstream_error"
    code = "upstream_over_budget"
    default_message = "the upstream produced more than this request's max_tokens allow; the reply was cut off"


def error_event(error: NodeError) -> bytes:
    """An SSE event that OpenAI's SDKs raise as an APIError."""
    return b"data: " + orjson.dumps(error.body()) + b"\n\n"


class MeteredStream:
    def __init__(self, call: LlmCall, reply: UpstreamReply, settle: Settle) -> None:
        self._call = call
        self._meter = SseMeter(call)
        self._reply = reply
        self._settle = settle
        self._cut_off = False
        self._finished = False

    async def body(self) -> AsyncIterator[bytes]:
        try:
            async with aclosing(self._reply.chunks()) as chunks:
                async for chunk in chunks:
                    events = self._meter.feed(chunk)
                    if events:
                        yield events
                    if self._meter.over_budget:
                        yield self._cut()
                        return
            tail = self._meter.flush()
            if tail:
                yield tail
            if self._meter.over_budget:
                yield self._cut()
        except NodeError as failure:
            yield error_event(failure)
        finally:
            await self.finish()

    def _cut(self) -> bytes:
        """Stop relaying: the client gets one error event and [DONE]; the stream costs its whole reservation."""
        self._cut_off = True
        self._reply.close()
        log.warning("metering.cut_off: model=%s budget_tokens=%d", self._call.model, self._call.completion_budget)
        return error_event(ReplyOverBudget()) + DONE_EVENT

    async def finish(self) -> None:
        """Settle what was produced (nothing produced: release it all). Safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        self._reply.close()
        await self._settle(self._call.max_usage() if self._cut_off else self._meter.metered_usage())
