"""Work that must finish even when the request that started it is gone (settlements after a client disconnects)."""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from app.errors import NodeError

log = logging.getLogger(__name__)


class BackgroundWork:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> "asyncio.Task[Any]":
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: "asyncio.Task[Any]") -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None and not isinstance(failure, NodeError):  # refusals reach their callers
            log.error("background.failed", exc_info=failure)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def shielded(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` to completion even if the caller is cancelled meanwhile (the caller then stops waiting)."""
        await asyncio.shield(self.spawn(work))
