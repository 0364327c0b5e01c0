"""The circuit breaker: opens after N failures in a row, keeps its upstream out for T seconds, then lets one probe
through, which closes it or opens it again. Through a node: a failing cheapest upstream stops being tried."""

import time

from app.upstream.breaker import Breaker
from tests.fixtures.node import NodeFactory, create_key, key_state
from tests.upstream.fronts import Front
from tests.upstream.routed import chat, priced, routed_node, upstream


def state(breaker: Breaker) -> str:
    return breaker.state.value  # read anew each time (mypy would narrow a repeated `breaker.state is ...`)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_n_failures_in_a_row_and_a_success_resets_the_count() -> None:
    breaker = Breaker(failures=3, open_s=10, clock=Clock())
    for _ in range(2):
        assert breaker.claim()
        breaker.failed()
    breaker.succeeded()
    for _ in range(2):
        breaker.failed()
    assert state(breaker) == "closed" and breaker.claim()
    breaker.failed()
    assert state(breaker) == "open" and not breaker.claim()


def test_after_the_open_time_one_probe_passes_and_its_success_closes_it() -> None:
    clock = Clock()
    breaker = Breaker(failures=1, open_s=10, clock=clock)
    breaker.failed()
    clock.now += 9.9
    assert not breaker.claim()
    clock.now += 0.2
    assert state(breaker) == "half_open"
    assert breaker.claim() and not breaker.claim()  # one probe at a time
    breaker.succeeded()
    assert state(breaker) == "closed" and breaker.claim() and breaker.claim()


def test_a_failed_probe_opens_it_for_another_period_and_a_released_one_frees_the_probe() -> None:
    clock = Clock()
    breaker = Breaker(failures=5, open_s=10, clock=clock)
    for _ in range(5):
        breaker.failed()
    clock.now += 10
    assert breaker.claim()
    breaker.released()  # the client went away: no verdict, the next request may probe
    assert breaker.claim()
    breaker.failed()
    assert state(breaker) == "open"
    clock.now += 9
    assert not breaker.claim()
    clock.now += 1
    assert breaker.claim()


def test_a_failing_upstream_is_kept_out_then_probed_and_taken_back(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    cheap, backup = priced(fronts[0], "0.000001"), priced(fronts[1], "0.000002")
    node = routed_node(
        node_factory,
        [upstream("cheap", cheap), upstream("backup", backup)],
        upstream_breaker_failures=2,
        upstream_breaker_open_s=1.0,
    )
    key = create_key(node, 1_000_000)
    cheap.fail_status = 503

    assert [chat(node, key).status_code for _ in range(2)] == [200, 200]
    assert (cheap.hits, backup.hits) == (2, 2)  # tried, failed, failed over
    assert chat(node, key).status_code == 200
    assert (cheap.hits, backup.hits) == (2, 3)  # open: not tried at all

    cheap.fail_status = None
    time.sleep(1.1)
    assert chat(node, key).status_code == 200
    assert (cheap.hits, backup.hits) == (3, 3)  # the probe, answered: closed again
    assert chat(node, key).status_code == 200
    assert (cheap.hits, backup.hits) == (4, 3)


def test_with_every_upstream_kept_out_a_request_is_refused_without_trying_any(
    node_factory: NodeFactory, fronts: list[Front]
) -> None:
    for front, price in zip(fronts[:2], ("0.000001", "0.000002"), strict=True):
        priced(front, price).fail_status = 503
    node = routed_node(
        node_factory,
        [upstream("one", fronts[0]), upstream("two", fronts[1])],
        upstream_breaker_failures=1,
        upstream_breaker_open_s=60.0,
    )
    key = create_key(node, 1_000_000)

    tried = chat(node, key)
    kept_out = chat(node, key)

    assert tried.status_code == 502 and (fronts[0].hits, fronts[1].hits) == (1, 1)
    assert kept_out.status_code == 502 and kept_out.json()["error"]["code"] == "upstream_unavailable"
    assert kept_out.headers["retry-after"] == "1" and (fronts[0].hits, fronts[1].hits) == (1, 1)
    assert key_state(node, key) == {"balance_msat": 1_000_000, "reserved_msat": 0}
