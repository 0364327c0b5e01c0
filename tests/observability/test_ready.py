"""/health answers while the process runs; /ready only while the database, the upstream and every trusted mint do."""

import time
from pathlib import Path

import httpx

from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory, RunningNode

MAX_AGE_S = 1.0


def _ready(node: RunningNode) -> httpx.Response:
    return httpx.get(node.root + "/ready", timeout=15)


def _wait_for(node: RunningNode, status: int, timeout_s: float = 20.0) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while (reply := _ready(node)).status_code != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return reply


def test_ready_names_a_stopped_mint_and_is_ready_again_once_it_answers(
    node_factory: NodeFactory, tmp_path: Path
) -> None:
    mint = RunningMint(tmp_path / "own-mint", fee_ppk=0)  # stopped below: not the session's shared mint
    mint.start()
    try:
        node = node_factory(cashu_mints=[mint.url], ready_max_age_s=MAX_AGE_S, ready_probe_timeout_s=2.0)
        first = _wait_for(node, 200)
        assert first.status_code == 200, first.text
        assert first.json()["failed"] == []
        assert set(first.json()["checks"]) == {"database", "upstream", f"mint:{mint.url}"}

        mint.stop()
        down = _wait_for(node, 503)
        assert down.status_code == 503, down.text
        assert down.json()["status"] == "not_ready"
        assert down.json()["failed"] == [f"mint:{mint.url}"]
        assert down.json()["checks"][f"mint:{mint.url}"]["error"]
        assert httpx.get(node.root + "/health", timeout=5).status_code == 200  # the process itself is fine

        mint.start()
        again = _wait_for(node, 200)
        assert again.status_code == 200, again.text
        assert again.json()["checks"][f"mint:{mint.url}"]["ok"] is True
    finally:
        mint.stop()


def test_ready_names_an_upstream_that_does_not_answer(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(upstream_base_url="http://127.0.0.1:9/v1", cashu_mints=[mint.url], ready_max_age_s=MAX_AGE_S)
    reply = _ready(node)
    assert reply.status_code == 503
    assert reply.json()["failed"] == ["upstream"]
    assert reply.json()["checks"]["database"]["ok"] is True


def test_health_answers_without_asking_anything(node_factory: NodeFactory) -> None:
    node = node_factory(upstream_base_url="http://127.0.0.1:9/v1", cashu_mints=["http://127.0.0.1:9"])
    reply = httpx.get(node.root + "/health", timeout=5)
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}
