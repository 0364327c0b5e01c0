"""BTC/USD from public tickers (local fakes in Kraken's, Coinbase's and Bitstamp's shapes): the median of those that
answer; models priced in USD are refused (503 price_unavailable) while the rate is stale, msat-priced ones sell."""

import asyncio
import time
from collections.abc import Iterator

import orjson
import pytest

from app.pricing.rates import LiveRate
from app.upstream.rates import DEFAULT_URLS, Tickers, TickerSource, btc_usd_of, parse_sources
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, get, key_state
from tests.payments.helpers import create
from tests.upstream.fronts import Front, Ticker
from tests.upstream.routed import chat, entries, priced, routed_node, upstream


@pytest.fixture
def tickers() -> Iterator[list[Ticker]]:
    started = [
        Ticker("kraken", 40_000).start(),
        Ticker("coinbase", 50_000).start(),
        Ticker("bitstamp", 60_000).start(),
        Ticker("bitstamp", 1_000_000, down=True).start(),
    ]
    yield started
    for ticker in started:
        ticker.stop()


@pytest.mark.parametrize("exchange", ["kraken", "coinbase", "bitstamp"])
def test_each_exchanges_reply_shape_is_read(exchange: str) -> None:
    body = orjson.dumps(Ticker(exchange, 91_234.5).reply())

    assert btc_usd_of(TickerSource(exchange, "http://x"), body) == 91_234.5


@pytest.mark.parametrize(
    ("exchange", "body"),
    [
        ("kraken", b'{"error": ["EService:Unavailable"], "result": {}}'),
        ("coinbase", b'{"data": {"amount": "3000", "base": "ETH", "currency": "USD"}}'),
        ("bitstamp", b'{"last": "0.5"}'),
        ("bitstamp", b'{"last": "Infinity"}'),
        ("bitstamp", b"<html>"),
    ],
)
def test_a_reply_without_a_plausible_price_is_refused(exchange: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        btc_usd_of(TickerSource(exchange, "http://x"), body)


def test_sources_are_named_with_an_optional_url() -> None:
    sources = parse_sources(["kraken", "coinbase=http://127.0.0.1:9/t"])

    assert sources == [TickerSource("kraken", DEFAULT_URLS["kraken"]), TickerSource("coinbase", "http://127.0.0.1:9/t")]
    with pytest.raises(ValueError):
        parse_sources(["binance"])


def test_the_rate_is_the_median_of_the_sources_that_answered(tickers: list[Ticker]) -> None:
    async def run() -> tuple[list[float], float, bool]:
        live = Tickers(parse_sources([ticker.source for ticker in tickers]), timeout_s=2)
        await live.start()
        try:
            rate = LiveRate(live.quotes, fallback=100_000, max_age_s=60)
            assert not rate.fresh()
            await rate.refresh()
            return sorted(await live.quotes()), await rate.btc_usd(), rate.fresh()
        finally:
            await live.close()

    quotes, median, fresh = asyncio.run(run())

    assert quotes == [40_000, 50_000, 60_000]  # the one down is left out
    assert median == 50_000 and fresh


def rated_node(
    node_factory: NodeFactory, front: Front, tickers: list[Ticker], mint: RunningMint, **overrides: object
) -> RunningNode:
    """standin-small priced by the upstream in USD (0.000001 per token), standin-large by the operator in msat."""
    priced(front, "0.000001")
    return routed_node(
        node_factory,
        [upstream("router", front)],
        btc_usd_sources=[ticker.source for ticker in tickers],
        model_prices='{"standin-large": {"prompt_msat_per_mtok": 1000000, "completion_msat_per_mtok": 1000000}}',
        cashu_mints=[mint.url],
        **overrides,
    )


def wait_for_prompt_price(node: RunningNode, sats_per_token: float) -> None:
    deadline = time.monotonic() + 10
    while True:
        models = {model["id"]: model for model in get(node, "/v1/models").json()["data"]}
        if models["standin-small"]["sats_pricing"]["prompt"] == sats_per_token:
            return
        assert time.monotonic() < deadline, models["standin-small"]["sats_pricing"]
        time.sleep(0.05)


def test_usd_prices_follow_the_median_rate(
    node_factory: NodeFactory, fronts: list[Front], tickers: list[Ticker], mint: RunningMint
) -> None:
    node = rated_node(node_factory, fronts[0], tickers, mint)
    key = create(node, asyncio.run(mint.make_token(100))).json()["api_key"]

    wait_for_prompt_price(node, 0.002)  # 0.000001 USD at 50,000 USD/BTC is 2 msat
    reply = chat(node, key)

    assert reply.status_code == 200, reply.text
    usage = reply.json()["usage"]
    assert int(reply.headers["x-routstr-cost-msats"]) == usage["prompt_tokens"] * 2 + usage["completion_tokens"] * 4


def test_usd_priced_models_are_refused_while_every_source_is_down_and_msat_priced_ones_sell(
    node_factory: NodeFactory, fronts: list[Front], tickers: list[Ticker], mint: RunningMint
) -> None:
    for ticker in tickers:
        ticker.down = True
    node = rated_node(node_factory, fronts[0], tickers, mint)
    key = create(node, asyncio.run(mint.make_token(100))).json()["api_key"]

    refused = chat(node, key)
    sold = chat(node, key, model="standin-large")

    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "price_unavailable" and refused.headers["retry-after"]
    assert sold.status_code == 200
    assert fronts[0].hits == 1  # only the msat-priced request went upstream
    assert [row.kind.value for row in entries(node, key)] == ["deposit", "charge"]
    assert key_state(node, key)["reserved_msat"] == 0


def test_a_rate_older_than_the_maximum_age_stops_usd_sales(
    node_factory: NodeFactory, fronts: list[Front], tickers: list[Ticker], mint: RunningMint
) -> None:
    node = rated_node(node_factory, fronts[0], tickers, mint, btc_usd_refresh_s=0.2, btc_usd_max_age_s=1.0)
    key = create(node, asyncio.run(mint.make_token(100))).json()["api_key"]
    wait_for_prompt_price(node, 0.002)
    assert chat(node, key).status_code == 200

    for ticker in tickers:
        ticker.down = True
    time.sleep(1.3)
    stale = chat(node, key)

    assert stale.status_code == 503 and stale.json()["error"]["code"] == "price_unavailable"
    assert len([row for row in entries(node, key) if row.kind.value == "charge"]) == 1
    assert key_state(node, key)["reserved_msat"] == 0
