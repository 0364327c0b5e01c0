"""Readiness: has each part the node depends on answered recently?

A check is a name and a probe. `report()` re-probes the checks whose last good answer is older than their window
(the database: every time) and says which failed. The periodic `refresh()` keeps the answers fresh, so that polling
/ready rarely waits on a probe and the metrics show each part's last answer."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # "database", "upstream", "mint:<url>"
    probe: Probe
    max_age_s: float  # a good answer counts this long; 0 = probe at every report


@dataclass(frozen=True, slots=True)
class ReadyReport:
    ready: bool
    checks: dict[str, dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        failed = [name for name, check in self.checks.items() if not check["ok"]]
        return {"status": "ready" if self.ready else "not_ready", "failed": failed, "checks": self.checks}


class Readiness:
    def __init__(self, checks: Iterable[Check], *, probe_timeout_s: float) -> None:
        self._checks = {check.name: check for check in checks}
        self._timeout_s = probe_timeout_s
        self._last_ok: dict[str, float] = {}  # wall-clock seconds
        self._last_error: dict[str, str] = {}

    def last_ok(self, prefix: str = "") -> Mapping[str, float]:
        return {name.removeprefix(prefix): at for name, at in self._last_ok.items() if name.startswith(prefix)}

    async def report(self) -> ReadyReport:
        now = time.time()
        stale = [c for c in self._checks.values() if now - self._last_ok.get(c.name, 0.0) > c.max_age_s]
        answered = dict(zip((c.name for c in stale), await asyncio.gather(*map(self._probe, stale)), strict=True))
        checks = {name: self._state(name, answered.get(name, True)) for name in self._checks}
        return ReadyReport(all(check["ok"] for check in checks.values()), checks)

    async def refresh(self) -> None:
        """Probe every check (periodic, so that metrics show each part's last answer)."""
        await asyncio.gather(*map(self._probe, self._checks.values()))

    def _state(self, name: str, ok: bool) -> dict[str, Any]:
        at = self._last_ok.get(name)
        state: dict[str, Any] = {"ok": ok, "last_ok_s_ago": None if at is None else round(time.time() - at, 1)}
        if not ok:
            state["error"] = self._last_error.get(name, "no answer")
        return state

    async def _probe(self, check: Check) -> bool:
        try:
            await asyncio.wait_for(check.probe(), self._timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure is "not answering"; the reply names its kind only
            self._last_error[check.name] = type(exc).__name__
            log.warning("ready.probe_failed check=%s error=%s", check.name, type(exc).__name__)
            return False
        self._last_ok[check.name] = time.time()
        return True
