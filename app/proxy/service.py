"""One paid LLM call: reserve the most it can cost, forward, meter, then settle the actual cost or release it all."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from app.errors import NodeError
from app.ledger.records import Reservation
from app.ledger.service import Ledger
from app.pricing.catalog import Catalog, PricedModel
from app.pricing.prices import Cost, Usage, cost_of, msat_to_usd
from app.pricing.rates import PriceUnavailable, RateSource
from app.proxy.background import BackgroundWork
from app.proxy.calls import Endpoint, LlmCall, parse_call
from app.proxy.metering import Metered, byte_ceiling, meter_json_reply
from app.proxy.streams import MeteredStream
from app.upstream.client import UpstreamReply
from app.upstream.refusals import UpstreamFailed
from app.upstream.registry import Registry

log = logging.getLogger(__name__)

# told of every charge: model, prompt tokens, completion tokens, msat charged (metrics; must not block or raise)
ChargeObserver = Callable[[str, int, int, int], None]


@dataclass(slots=True)
class JsonReply:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StreamReply:
    stream: MeteredStream
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


def cost_headers(cost: Cost, btc_usd: float) -> dict[str, str]:
    return {
        "x-routstr-cost-msats": str(cost.total_msat),
        "x-routstr-cost-usd": f"{msat_to_usd(cost.total_msat, btc_usd):.10f}",
        "x-routstr-input-cost-msats": str(cost.input_msat),
        "x-routstr-output-cost-msats": str(cost.output_msat),
    }


class ProxyService:
    def __init__(
        self,
        ledger: Ledger,
        catalog: Callable[[], Catalog],
        upstream: Registry,
        background: BackgroundWork,
        max_completion_tokens: int,
        rates: RateSource,
    ) -> None:
        self._ledger = ledger
        self._catalog = catalog
        self._upstream = upstream
        self._background = background
        self._max_completion_tokens = max_completion_tokens  # the operator's limit per choice
        self._rates = rates
        self.on_charge: ChargeObserver | None = None

    @property
    def upstreams(self) -> Registry:
        return self._upstream

    async def call(self, endpoint: Endpoint, body: bytes, key_hash: str, request_id: str) -> JsonReply | StreamReply:
        """Served as the upstream answers (a stream, or JSON), whatever the client asked: metered by what it sent.
        `request_id` is the id the client sees on the reply; the reservation is journaled under it and held across
        every upstream tried (failover happens before any output, so the request is charged once)."""
        call, model, max_cost = self._priced(endpoint, body)
        held = await self._reserve(key_hash, max_cost, request_id)
        try:
            reply = await self._upstream.send(call.model, endpoint.value, call.forward_body)
        except BaseException:
            await self._background.shielded(self._ledger.release(request_id))
            raise
        if not 200 <= reply.status < 300 or not (reply.is_event_stream or reply.is_json):
            raise await self._refused_upstream(reply, request_id)
        if reply.is_event_stream:
            return self._stream(call, model, reply, held)
        return await self._json(call, model, reply, held)

    def max_cost_msat(self, endpoint: Endpoint, body: bytes) -> int:
        """What `call` would reserve for this request: the most it can cost. Refuses what `call` refuses before
        reserving (an unknown model, a bad field), so a payment can be checked before any money moves."""
        return self._priced(endpoint, body)[2]

    def _priced(self, endpoint: Endpoint, body: bytes) -> tuple[LlmCall, PricedModel, int]:
        parsed = parse_call(endpoint, body)
        model = self._catalog().lookup(parsed.model)
        if model.usd_priced and not self._rates.fresh():
            raise PriceUnavailable()
        call = parsed.bounded(model.context_length, self._max_completion_tokens)
        return call, model, cost_of(call.max_usage(), model.price).total_msat

    async def _reserve(self, key_hash: str, amount_msat: int, request_id: str) -> Reservation:
        """A reservation made for a caller that was cancelled meanwhile is released, never left held."""
        task = self._background.spawn(self._ledger.reserve(key_hash, amount_msat, request_id))
        try:
            return await asyncio.shield(task)
        except BaseException:
            self._background.spawn(self._release_when_done(task, request_id))
            raise

    async def _release_when_done(self, task: "asyncio.Task[Reservation]", request_id: str) -> None:
        try:
            await task
        except NodeError:
            return
        await self._ledger.release(request_id)

    async def _refused_upstream(self, reply: UpstreamReply, request_id: str) -> NodeError:
        """The node's own error for an answer that is not a completion; the reservation is released."""
        try:
            if 200 <= reply.status < 300:
                reply.close()
                return UpstreamFailed("upstream answered with neither JSON nor an event stream")
            return await reply.refusal()
        finally:
            await self._background.shielded(self._ledger.release(request_id))

    async def _json(self, call: LlmCall, model: PricedModel, reply: UpstreamReply, held: Reservation) -> JsonReply:
        """A reply too large for the request is refused and costs nothing: the client received none of it."""
        try:
            body = await reply.read(byte_ceiling(call))
        except BaseException:
            await self._background.shielded(self._ledger.release(held.request_id))
            raise
        cost = await asyncio.shield(self._background.spawn(self._settle_json(call, model, body, held)))
        return JsonReply(200, body, reply.content_type, cost_headers(cost, await self._rates.btc_usd()))

    async def _settle_json(self, call: LlmCall, model: PricedModel, body: bytes, held: Reservation) -> Cost:
        """Metered and settled in the background: counting tokens may wait for the tokenizer, and a client gone
        meanwhile must still be charged."""
        metered = await meter_json_reply(call, body)
        _log_metered(held, metered)
        cost = self._within_reservation(cost_of(metered.usage, model.price), held, call)
        await self._ledger.settle(held.request_id, cost.total_msat, ref=call.model)
        self._charged(call, metered.usage, cost)
        return cost

    @staticmethod
    def _within_reservation(cost: Cost, held: Reservation, call: LlmCall) -> Cost:
        """The reservation is the most a request can cost, whatever the upstream reports."""
        if cost.total_msat <= held.amount_msat:
            return cost
        excess = cost.total_msat - held.amount_msat
        log.warning(
            "metering.over_reservation: request_id=%s model=%s reserved_msat=%d excess_msat=%d",
            held.request_id,
            call.model,
            held.amount_msat,
            excess,
        )
        return cost.capped(held.amount_msat)

    def _stream(self, call: LlmCall, model: PricedModel, reply: UpstreamReply, held: Reservation) -> StreamReply:
        stream = MeteredStream(call, reply, settle=lambda usage: self._settle_stream(call, model, held, usage))
        headers = {"x-routstr-reserved-msats": str(held.amount_msat)}
        return StreamReply(stream, reply.content_type, headers)

    async def _settle_stream(
        self, call: LlmCall, model: PricedModel, held: Reservation, measured: Awaitable[Metered | None]
    ) -> None:
        """Settled in the background, so that a client gone mid-stream cannot cancel its own charge."""

        async def settle() -> None:
            metered = await measured
            if metered is None:
                await self._ledger.release(held.request_id)
                return
            _log_metered(held, metered)
            cost = self._within_reservation(cost_of(metered.usage, model.price), held, call)
            await self._ledger.settle(held.request_id, cost.total_msat, ref=call.model)
            self._charged(call, metered.usage, cost)

        await self._background.shielded(settle())

    def _charged(self, call: LlmCall, usage: Usage, cost: Cost) -> None:
        if self.on_charge is not None:
            self.on_charge(call.model, usage.prompt_tokens, usage.completion_tokens, cost.total_msat)


def _log_metered(held: Reservation, metered: Metered) -> None:
    """What the upstream said a call cost it (OpenRouter's `usage.cost`), and usage the node had to count."""
    if metered.upstream_cost_usd is None and not metered.counted:
        return
    log.info(
        "metering.metered: request_id=%s prompt_tokens=%d completion_tokens=%d counted=%s upstream_cost_usd=%s",
        held.request_id,
        metered.usage.prompt_tokens,
        metered.usage.completion_tokens,
        metered.counted,
        metered.upstream_cost_usd,
    )
