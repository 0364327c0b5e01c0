"""What a listener on relays keeps: the ids of the events it took lately (relays deliver one event many times: several
relays, and again after each reconnect), and the tasks it started for them, cancelled together when it stops."""

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Coroutine
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class RecentEvents(Generic[V]):
    """The last `limit` event ids taken, each with a value (e.g. its author); the oldest is forgotten first."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._values: OrderedDict[str, V] = OrderedDict()

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._values

    def get(self, event_id: str) -> V | None:
        return self._values.get(event_id)

    def remember(self, event_id: str, value: V) -> None:
        self._values[event_id] = value
        if len(self._values) > self._limit:
            self._values.popitem(last=False)

    def forget(self, event_id: str) -> None:
        """Taken again when delivered again (its handling failed before anything was written)."""
        self._values.pop(event_id, None)


class ListenerTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
