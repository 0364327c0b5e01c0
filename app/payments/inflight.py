"""Operations this process is executing right now, so a second request for the same token waits for the first."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class InFlight:
    def __init__(self) -> None:
        self._running: dict[str, asyncio.Event] = {}

    @asynccontextmanager
    async def hold(self, op_id: str) -> AsyncIterator[None]:
        done = self._running.setdefault(op_id, asyncio.Event())
        try:
            yield
        finally:
            self._running.pop(op_id, None)
            done.set()

    def running(self, op_id: str) -> bool:
        return op_id in self._running

    async def wait(self, op_id: str, timeout_s: float) -> None:
        done = self._running.get(op_id)
        if done is not None:
            async with asyncio.timeout(timeout_s):
                await done.wait()
