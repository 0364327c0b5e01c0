"""Named groups of requests and their limits: `await limits.check("create", client_ip)`."""

import hashlib
from collections.abc import Mapping

from app.errors import NodeError
from app.limits.limiter import Counter, Rule


class RateLimited(NodeError):
    default_message = "too many requests: slow down and retry after the time in Retry-After"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__()
        self.headers["retry-after"] = str(retry_after_s)


class RateLimits:
    """`rules` by group name; a group with no rule, or a limit of 0, is not limited. `exempt` subjects (the
    operator's own loopback, by default) are never counted."""

    def __init__(self, counter: Counter, rules: Mapping[str, Rule], *, prefix: str, exempt: frozenset[str]) -> None:
        self._counter = counter
        self._rules = {group: rule for group, rule in rules.items() if rule.limit > 0}
        self._prefix = prefix
        self._exempt = exempt

    def limits(self, group: str) -> bool:
        return group in self._rules

    async def check(self, group: str, subject: str) -> None:
        """Count one request of `subject` (a client IP, a key's hash) in `group`; RateLimited when over."""
        rule = self._rules.get(group)
        if rule is None or subject in self._exempt:
            return
        verdict = await self._counter.hit(f"{self._prefix}:{group}:{subject}", rule)
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after_s)

    async def close(self) -> None:
        await self._counter.close()


def key_subject(secret: str) -> str:
    """What a key is counted under: never the key itself (it may sit in Redis)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:32]
