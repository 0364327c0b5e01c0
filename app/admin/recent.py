"""The latest error responses this process sent, newest first, for the dashboard: route templates and codes only
(never a path's own values, a body or a header, which can carry keys and tokens)."""

import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

CAPACITY = 200


@dataclass(frozen=True, slots=True)
class ErrorSeen:
    at: int
    method: str
    route: str
    status: int
    code: str
    request_id: str | None


class RecentErrors:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._seen: deque[ErrorSeen] = deque(maxlen=capacity)

    def add(self, method: str, route: str, status: int, code: str, request_id: str | None) -> None:
        self._seen.append(ErrorSeen(int(time.time()), method, route, status, code, request_id))

    def latest(self, limit: int) -> list[dict[str, Any]]:
        return [asdict(seen) for seen in list(reversed(self._seen))[:limit]]
