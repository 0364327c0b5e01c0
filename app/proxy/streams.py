"""A streamed reply passed to the client event by event, metered on the way, settled exactly once at its end:
finished, dropped by the upstream, or abandoned by the client."""

from collections.abc import AsyncIterator, Awaitable, Callable

from app.pricing.prices import Usage
from app.proxy.calls import LlmCall
from app.proxy.metering import SseMeter
from app.upstream.client import UpstreamReply

Settle = Callable[[Usage | None], Awaitable[None]]


class MeteredStream:
    def __init__(self, call: LlmCall, reply: UpstreamReply, settle: Settle) -> None:
        self._meter = SseMeter(call)
        self._reply = reply
        self._settle = settle
        self._finished = False

    async def body(self) -> AsyncIterator[bytes]:
        """The events as they come; an upstream failure mid-stream is raised (as a NodeError) after settling."""
        try:
            async for chunk in self._reply.chunks():
                events = self._meter.feed(chunk)
                if events:
                    yield events
            tail = self._meter.leftover()
            if tail:
                yield tail
        finally:
            await self.finish()

    async def finish(self) -> None:
        """Settle what was produced (nothing produced: release it all). Safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        self._reply.close()
        await self._settle(self._meter.metered_usage())
