"""Failed admin logins slowed per client address, in this process (a shared limiter can replace it)."""

import time
from collections import deque
from collections.abc import Callable

from app.admin.errors import LoginThrottled

MAX_FAILURES = 5
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000  # beyond this the oldest address is forgotten: memory stays bounded under a flood


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        """Raise LoginThrottled (with Retry-After) while `address` has failed MAX_FAILURES times in WINDOW_S."""
        recent = self._recent(address)
        if len(recent) >= MAX_FAILURES:
            error = LoginThrottled()
            error.headers["Retry-After"] = str(max(1, int(recent[0] + WINDOW_S - self._clock()) + 1))
            raise error

    def failed(self, address: str) -> None:
        if address not in self._failures and len(self._failures) >= MAX_ADDRESSES:
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(address, deque(maxlen=MAX_FAILURES)).append(self._clock())

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def _recent(self, address: str) -> deque[float]:
        recent = self._failures.get(address, deque())
        while recent and recent[0] <= self._clock() - WINDOW_S:
            recent.popleft()
        return recent
