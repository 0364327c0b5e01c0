"""Partial results (NIP-90 kind 7000 `partial`): while a long generation streams through the metered proxy path,
the text so far is published every few seconds, in the background and one at a time, so a slow relay never holds
the stream, and the last one always before the result."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from app.dvm.completion import stream_text
from app.proxy.service import StreamReply

log = logging.getLogger(__name__)

Publish = Callable[[str], Awaitable[None]]  # the text so far -> its kind 7000 published
Clock = Callable[[], float]


class Partials:
    def __init__(self, every_s: float, publish: Publish, clock: Clock = time.monotonic) -> None:
        self._every_s = every_s
        self._publish = publish
        self._clock = clock
        self._due = clock() + every_s
        self._published = ""
        self._sending: asyncio.Task[None] | None = None

    def offer(self, parts: list[str]) -> None:
        """Called after each chunk: publishes when a period has passed, the last one is done, and there is news."""
        if self._clock() < self._due or (self._sending is not None and not self._sending.done()):
            return
        self._due = self._clock() + self._every_s
        text = "".join(parts)
        if text and text != self._published:
            self._published = text
            self._sending = asyncio.get_running_loop().create_task(self._send(text))

    async def _send(self, text: str) -> None:
        try:
            await self._publish(text)
        except Exception:  # a partial result is a courtesy: the job goes on without it
            log.exception("dvm.partial_failed")

    async def close(self) -> None:
        if self._sending is not None:
            await self._sending


async def text_with_partials(reply: StreamReply, every_s: float, publish: Publish) -> str:
    partials = Partials(every_s, publish)
    try:
        return await stream_text(reply, partials.offer)
    finally:
        await partials.close()
