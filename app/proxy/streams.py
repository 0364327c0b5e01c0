"""A streamed reply passed to the client event by event, metered on the way, settled exactly once at its end:
finished, dropped by the upstream, cut off for outgrowing its reservation, or abandoned by the client."""

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import NoReturn

from app.errors import NodeError
from app.proxy.calls import Endpoint, LlmCall
from app.proxy.metering import Metered, SseMeter
from app.upstream.client import UpstreamReply

log = logging.getLogger(__name__)

# Given what the stream is to be charged, still to be worked out: the settler awaits it in work the client cannot
# cancel (counting tokens may wait for the tokenizer to load, and a client gone then must still be charged).
Settle = Callable[[Awaitable[Metered | None]], Awaitable[None]]


class ReplyOverBudget(NodeError):
    default_message = "the upstream produced more than this request's max_tokens allow; the reply was cut off"


class MeteredStream:
    def __init__(self, call: LlmCall, reply: UpstreamReply, settle: Settle) -> None:
        self._call = call
        self._meter = SseMeter(call)
        self._reply = reply
        self._settle = settle
        self._cut_off = False
        self._finished = False

    @property
    def endpoint(self) -> Endpoint:
        return self._call.endpoint

    async def body(self) -> AsyncIterator[bytes]:
        """The events as they come; an upstream failure mid-stream is raised (as a NodeError) after settling."""
        try:
            async with aclosing(self._reply.chunks()) as chunks:
                async for chunk in chunks:
                    events = self._meter.feed(chunk)
                    if events:
                        yield events
                    if self._meter.over_budget:
                        self._cut()
            tail = self._meter.flush()
            if tail:
                yield tail
            if self._meter.over_budget:
                self._cut()
        finally:
            await self.finish()

    def _cut(self) -> NoReturn:
        """Stop relaying: the client gets one error event (rendered by the web layer) after the events that fit; the
        stream costs its whole reservation."""
        self._cut_off = True
        self._reply.close()
        log.warning("metering.cut_off: model=%s budget_tokens=%d", self._call.model, self._call.completion_budget)
        raise ReplyOverBudget()

    async def finish(self) -> None:
        """Settle what was produced (nothing produced: release it all). Safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        self._reply.close()
        await self._settle(self._metered())

    async def _metered(self) -> Metered | None:
        return Metered(self._call.max_usage()) if self._cut_off else await self._meter.metered()
