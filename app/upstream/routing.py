"""Which upstream serves a model, and failover before any output.

A model offered by several upstreams goes to the cheapest (its listed price times the upstream's markup; unpriced
offers after priced ones), ties to the heavier weight, then to the order of the configuration. A connect error, a
5xx or a 429 moves the request to the next upstream whose breaker lets it through; once an upstream answers with
anything else, that answer is the request's, whatever follows (a stream never fails over after its first byte)."""

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson

from app.errors import NodeError, UpstreamUnavailable
from app.upstream.breaker import Breaker
from app.upstream.client import UpstreamClient, UpstreamPoolFull, UpstreamReply
from app.upstream.model_list import UsdPrice

log = logging.getLogger(__name__)


class NoHealthyUpstream(UpstreamUnavailable):
    default_message = "no upstream can take a request for this model right now; retry shortly"

    def __init__(self, message: str | None = None, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.headers["Retry-After"] = str(retry_after_s)


@dataclass(frozen=True, slots=True, eq=False)
class Upstream:
    """One configured upstream at run time: its pooled client and its breaker."""

    name: str
    client: UpstreamClient
    breaker: Breaker
    markup: float = 1.0
    weight: float = 1.0
    order: int = 0  # its place in the configuration: the last tie-break


@dataclass(frozen=True, slots=True)
class Route:
    upstream: Upstream
    upstream_model: str  # the model id the upstream knows (differs from the sold id under a prefix map)
    usd_price: UsdPrice | None = None  # marked up

    def body_for(self, sold_model: str, body: bytes) -> bytes:
        if self.upstream_model == sold_model:
            return body
        payload = orjson.loads(body)
        payload["model"] = self.upstream_model
        return orjson.dumps(payload)


def ranked(routes: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(sorted(routes, key=_rank_key))


def _rank_key(route: Route) -> tuple[float, float, int]:
    price = route.usd_price
    unit = math.inf if price is None else price.prompt + price.completion
    return unit, -route.upstream.weight, route.upstream.order


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


FailedTry = Callable[[str, str], None]  # (upstream name, what failed: an error's name or the HTTP status)


async def send_with_failover(
    routes: Sequence[Route], sold_model: str, path: str, body: bytes, on_failed_try: FailedTry | None = None
) -> UpstreamReply:
    """The first answer that is not a retryable failure; else the last failure (its status for the client), or the
    last error when none answered at all. `on_failed_try` hears of every try that failed (metrics)."""
    failed_reply: UpstreamReply | None = None
    error: NodeError = NoHealthyUpstream()
    for attempt, route in enumerate(routes, start=1):
        breaker = route.upstream.breaker
        if not breaker.claim():
            log.debug(
                "upstream.skipped: model=%s upstream=%s breaker=%s", sold_model, route.upstream.name, breaker.state
            )
            continue
        try:
            reply = await route.upstream.client.send(path, route.body_for(sold_model, body))
        except (UpstreamUnavailable, UpstreamPoolFull) as exc:
            _failed(breaker, exc)
            _log_try(logging.WARNING, sold_model, route, attempt, type(exc).__name__)
            _tell(on_failed_try, route, type(exc).__name__)
            error = exc
            continue
        except NodeError as exc:  # a timeout: the upstream may be working on it, so it is not sent twice
            breaker.failed()
            _log_try(logging.WARNING, sold_model, route, attempt, type(exc).__name__)
            _tell(on_failed_try, route, type(exc).__name__)
            _discard(failed_reply)
            raise
        except BaseException:
            breaker.released()
            _discard(failed_reply)
            raise
        retryable = _retryable(reply.status)
        # the common case (first try answers) at DEBUG: a log line per request would cost the hot path
        level = logging.WARNING if retryable else logging.DEBUG if attempt == 1 else logging.INFO
        _log_try(level, sold_model, route, attempt, str(reply.status))
        if not retryable:
            breaker.succeeded()
            _discard(failed_reply)
            return reply
        breaker.failed()
        _tell(on_failed_try, route, str(reply.status))
        _discard(failed_reply)
        failed_reply = reply
    if failed_reply is not None:
        return failed_reply
    raise error


def _failed(breaker: Breaker, exc: NodeError) -> None:
    if isinstance(exc, UpstreamPoolFull):  # the node's own cap, not the upstream's fault
        breaker.released()
    else:
        breaker.failed()


def _discard(reply: UpstreamReply | None) -> None:
    if reply is not None:
        reply.close()


def _log_try(level: int, model: str, route: Route, attempt: int, outcome: str) -> None:
    log.log(
        level,
        "upstream.try: model=%s upstream=%s upstream_model=%s attempt=%d outcome=%s",
        model,
        route.upstream.name,
        route.upstream_model,
        attempt,
        outcome,
    )


def _tell(on_failed_try: FailedTry | None, route: Route, failure: str) -> None:
    if on_failed_try is not None:
        on_failed_try(route.upstream.name, failure)
