"""One paid LLM call: reserve the most it can cost, forward, meter, then settle the actual cost or release it all."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from app.errors import NodeError
from app.ledger.records import Reservation
from app.ledger.service import Ledger
from app.pricing.catalog import Catalog, PricedModel
from app.pricing.prices import Cost, Usage, cost_of, msat_to_usd
from app.pricing.rates import RateSource
from app.proxy.background import BackgroundWork
from app.proxy.calls import Endpoint, LlmCall, parse_call
from app.proxy.metering import usage_of_json_reply
from app.proxy.streams import MeteredStream
from app.upstream.client import UpstreamClient, UpstreamReply

log = logging.getLogger(__name__)


class UpstreamFailed(NodeError):
    default_message = "the upstream failed to answer"


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
        upstream: UpstreamClient,
        background: BackgroundWork,
        default_max_tokens: int,
        rates: RateSource,
    ) -> None:
        self._ledger = ledger
        self._catalog = catalog
        self._upstream = upstream
        self._background = background
        self._default_max_tokens = default_max_tokens
        self._rates = rates

    async def call(self, endpoint: Endpoint, body: bytes, key_hash: str, request_id: str) -> JsonReply | StreamReply:
        """`request_id` is the id the client sees on the reply; the reservation is journaled under it."""
        call = parse_call(endpoint, body, self._default_max_tokens)
        model = self._catalog().lookup(call.model)
        max_cost = cost_of(call.max_usage(), model.price).total_msat
        reservation = await self._reserve(key_hash, max_cost, request_id)
        try:
            reply = await self._upstream.send(endpoint.value, call.forward_body)
        except BaseException:
            await self._background.shielded(self._ledger.release(request_id))
            raise
        if reply.status >= 400:
            return await self._refused_upstream(reply, request_id)
        if call.stream:
            return self._stream(call, model, reply, reservation)
        return await self._json(call, model, reply, request_id)

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

    async def _refused_upstream(self, reply: UpstreamReply, request_id: str) -> JsonReply:
        try:
            body = await reply.read()
        finally:
            await self._background.shielded(self._ledger.release(request_id))
        if reply.status >= 500:
            raise UpstreamFailed(f"upstream answered {reply.status}: {body[:500].decode(errors='replace')}")
        return JsonReply(reply.status, body, reply.content_type)

    async def _json(self, call: LlmCall, model: PricedModel, reply: UpstreamReply, request_id: str) -> JsonReply:
        try:
            body = await reply.read()
        except BaseException:
            await self._background.shielded(self._ledger.release(request_id))
            raise
        cost = cost_of(usage_of_json_reply(call, body), model.price)
        await self._background.shielded(self._ledger.settle(request_id, cost.total_msat, ref=call.model))
        return JsonReply(200, body, reply.content_type, cost_headers(cost, await self._rates.btc_usd()))

    def _stream(self, call: LlmCall, model: PricedModel, reply: UpstreamReply, held: Reservation) -> StreamReply:
        stream = MeteredStream(call, reply, settle=lambda usage: self._settle_stream(call, model, held, usage))
        headers = {"x-routstr-reserved-msats": str(held.amount_msat)}
        return StreamReply(stream, reply.content_type, headers)

    async def _settle_stream(self, call: LlmCall, model: PricedModel, held: Reservation, usage: Usage | None) -> None:
        """Settled in the background, so that a client gone mid-stream cannot cancel its own charge."""

        async def settle() -> None:
            if usage is None:
                await self._ledger.release(held.request_id)
                return
            cost = cost_of(usage, model.price)
            await self._ledger.settle(held.request_id, cost.total_msat, ref=call.model)

        await self._background.shielded(settle())
