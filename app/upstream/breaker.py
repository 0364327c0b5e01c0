"""A circuit breaker per upstream: after `failures` failures in a row it opens and the upstream is skipped for
`open_s` seconds; then one request is let through as a probe (half-open), which closes it or opens it again."""

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker:
    def __init__(self, failures: int = 5, open_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = max(1, failures)
        self._open_s = open_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._open_s:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    def claim(self) -> bool:
        """Take a place for one request: always when closed, the single probe when half-open, never when open."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def succeeded(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failed(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self._threshold:
            self._opened_at = self._clock()
        self._probing = False

    def released(self) -> None:
        """A claimed request ended with neither a success nor a failure to report (e.g. the client went away)."""
        self._probing = False
