"""GET /metrics: what the node served, metered and charged, scraped by Prometheus from a real running node."""

import time
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode, create_key, standin_small_msat, wait_settled
from tests.fixtures.relay import TestRelay

TOKEN = "scrape-secret"
GRANT = 10_000_000
CHAT = "/v1/chat/completions"


def _chat(node: RunningNode, key: str, **fields: Any) -> httpx.Response:
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16, **fields}
    return httpx.post(node.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def scrape(node: RunningNode) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = httpx.get(node.root + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def _metrics_node(node_factory: NodeFactory, **overrides: Any) -> RunningNode:
    return node_factory(metrics_enabled=True, metrics_token=TOKEN, **overrides)


def test_requests_tokens_and_msat_charged_match_the_ledger(node_factory: NodeFactory) -> None:
    node = _metrics_node(node_factory)
    key = create_key(node, GRANT)
    assert _chat(node, key).status_code == 200
    streamed = _chat(node, key, stream=True)
    assert streamed.status_code == 200 and b"[DONE]" in streamed.content
    settled = wait_settled(node, key)
    assert settled["reserved_msat"] == 0
    spent = GRANT - settled["balance_msat"]

    deadline = time.monotonic() + 10  # a stream is settled (and counted) in the background after its last byte
    while value(samples := scrape(node), "routstr_charged_msat_total", model="standin-small") < spent:
        assert time.monotonic() < deadline, "the stream's charge never reached the metrics"
        time.sleep(0.05)
    assert value(samples, "routstr_charged_msat_total", model="standin-small") == spent
    assert value(samples, "routstr_http_requests_total", route=CHAT, method="POST", status="200") == 2
    assert value(samples, "routstr_http_request_duration_seconds_count", route=CHAT) == 2
    tokens_in = value(samples, "routstr_tokens_total", model="standin-small", direction="in")
    tokens_out = value(samples, "routstr_tokens_total", model="standin-small", direction="out")
    assert tokens_in > 0 and tokens_out > 0
    assert standin_small_msat(int(tokens_in), int(tokens_out)) == spent
    assert value(samples, "routstr_open_streams") == 0


def test_an_open_stream_is_counted_until_it_ends(node_factory: NodeFactory) -> None:
    node = _metrics_node(node_factory)
    key = create_key(node, GRANT)
    body = {"model": "standin-small", "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "standin": {"chunks": 30, "delay_ms": 100}}  # fmt: skip
    headers = {"authorization": f"Bearer {key}"}
    with httpx.stream("POST", node.url + "/chat/completions", json=body, headers=headers, timeout=30) as reply:
        assert reply.status_code == 200
        chunks = reply.iter_bytes()  # kept: a discarded iterator closes the response
        next(chunks)
        assert value(scrape(node), "routstr_open_streams") == 1
        for _ in chunks:
            pass
    assert value(scrape(node), "routstr_open_streams") == 0


def test_reserve_failures_and_upstream_errors_are_counted_by_kind(node_factory: NodeFactory) -> None:
    node = _metrics_node(node_factory, upstream_base_url="http://127.0.0.1:9/v1")
    broke = create_key(node, 0)
    assert _chat(node, broke).status_code == 402
    funded = create_key(node, GRANT)
    failed = _chat(node, funded)
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "upstream_unavailable"

    samples = scrape(node)
    assert value(samples, "routstr_reserve_failures_total") == 1
    assert value(samples, "routstr_upstream_errors_total", kind="upstream_unavailable") == 1
    assert value(samples, "routstr_errors_total", code="insufficient_balance") == 1
    assert value(samples, "routstr_http_requests_total", route=CHAT, method="POST", status="402") == 1


def test_a_stream_the_upstream_drops_and_a_rate_limited_request_are_counted(node_factory: NodeFactory) -> None:
    node = _metrics_node(node_factory, key_rpm=1, rate_limit_exempt_ips=[], rate_limit_prefix="metrics-test")
    key = create_key(node, GRANT)
    dropped = _chat(node, key, stream=True, standin={"drop_after": 2})
    assert dropped.status_code == 200 and b"upstream_dropped" in dropped.content
    assert _chat(node, key).status_code == 429
    assert wait_settled(node, key)["reserved_msat"] == 0

    samples = scrape(node)
    assert value(samples, "routstr_upstream_errors_total", kind="upstream_dropped") == 1
    assert value(samples, "routstr_errors_total", code="rate_limit_exceeded") == 1
    assert value(samples, "routstr_http_requests_total", route=CHAT, method="POST", status="429") == 1


def test_paths_no_route_serves_are_counted_without_their_text(node_factory: NodeFactory) -> None:
    node = _metrics_node(node_factory)
    secret = "sk-0123456789abcdef"
    assert httpx.get(f"{node.url}/{secret}", timeout=10).status_code == 404
    reply = httpx.get(node.root + "/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert secret not in reply.text
    assert value(scrape(node), "routstr_http_requests_total", route="unmatched", method="GET", status="404") == 1


def test_mint_upstream_and_relay_health_are_the_times_of_their_last_answers(
    node_factory: NodeFactory, mint: RunningMint, spare_relay: TestRelay
) -> None:
    started = time.time()
    node = _metrics_node(
        node_factory, cashu_mints=[mint.url], announce=True, announce_force=True, relays=[spare_relay.url]
    )
    deadline = time.monotonic() + 20
    while not value(samples := scrape(node), "routstr_relay_last_ok_timestamp_seconds", relay=spare_relay.url):
        assert time.monotonic() < deadline, "the relay never accepted the announcement"
        time.sleep(0.1)
    assert value(samples, "routstr_mint_last_ok_timestamp_seconds", mint=f"{mint.url}") >= started - 1
    assert value(samples, "routstr_upstream_last_ok_timestamp_seconds", upstream="upstream") >= started - 1
    assert value(samples, "routstr_relay_last_ok_timestamp_seconds", relay=spare_relay.url) >= started - 1


def test_metrics_want_the_token_and_are_off_by_default(node_factory: NodeFactory) -> None:
    guarded = _metrics_node(node_factory)
    assert httpx.get(guarded.root + "/metrics", timeout=10).status_code == 401
    wrong = httpx.get(guarded.root + "/metrics", headers={"authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert httpx.get(node_factory().root + "/metrics", timeout=10).status_code == 404
