"""Several node processes on one database, as an operator scales out: the same trusted mint for all, one of them
reaching it over a slower path (30-50 ms more per request), and the operator's two audits run next to them."""

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from app.cashu.client import MintClient
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_y
from app.cashu.tokens import decode_token
from tests.fixtures.gate import Gate
from tests.fixtures.node_process import NodeProcess, operator_command, wait_settled

T = TypeVar("T")
REQUEST_TIMEOUT_S = 60.0
SLOW_PATH_S = (0.03, 0.05)


@dataclass
class Cluster:
    database_url: str
    nodes: list[NodeProcess]
    gate: Gate  # node 0's path to the mint
    mint_url: str
    work_dir: Path

    def post(self, node: int, path: str, *, key: str | None = None, **body: Any) -> httpx.Response:
        return httpx.post(self.nodes[node].url + path, json=body, headers=bearer(key), timeout=REQUEST_TIMEOUT_S)

    def balance_msat(self, key: str, node: int = 0) -> int | None:
        """The key's balance as a user asks for it; None when the node knows no such key."""
        response = httpx.get(self.nodes[node].url + "/balance/info", headers=bearer(key), timeout=REQUEST_TIMEOUT_S)
        if response.status_code == 401:
            return None
        assert response.status_code == 200, response.text
        return int(response.json()["balance"])

    def at_once(self, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run the calls in threads released together by a barrier (results in call order)."""
        start = threading.Barrier(len(calls))

        def released(call: Callable[[], T]) -> T:
            start.wait()
            return call()

        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            return list(pool.map(released, calls))

    def settled(self) -> None:
        """Wait until every mint operation is finished (no journal entry left open)."""
        wait_settled(self.database_url)

    def audits_when_settled(self) -> list[str]:
        """Once every mint operation is finished, run both operator audits side by side (the books, and the wallet
        against the mint's own word); the failures' outputs, empty when both pass. Scenarios take this before their
        money assertions, so a failure also shows whether the audits saw it."""
        self.settled()
        audits = [("ledger", "check"), ("wallet", "report", "--verify")]
        with ThreadPoolExecutor(max_workers=len(audits)) as pool:
            runs = list(pool.map(lambda args: operator_command(self.database_url, self.work_dir / "operator", *args),
                                 audits))  # fmt: skip
        return [
            f"`python -m app {' '.join(args)}` failed:\n{run.stdout}\n{run.stderr}"
            for args, run in zip(audits, runs, strict=True)
            if run.returncode != 0
        ]


def bearer(key: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"} if key else {}


def token_spent_at_mint(token_text: str, mint_url: str) -> bool:
    """Whether the mint says (NUT-07) the token's proofs are spent: all of them, or (False) none of them."""

    async def ask() -> set[ProofState]:
        async with httpx.AsyncClient() as http:
            entries = await MintClient(http, mint_url).checkstate([proof_y(p) for p in decode_token(token_text).proofs])
        return {entry.state for entry in entries}

    states = asyncio.run(ask())
    assert states in ({ProofState.SPENT}, {ProofState.UNSPENT}), f"a token half spent: {states}"
    return states == {ProofState.SPENT}


CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}


def chat(cluster: Cluster, node: int, headers: dict[str, str]) -> httpx.Response:
    """One paid call, by API key (Authorization) or per request (X-Cashu)."""
    return httpx.post(
        cluster.nodes[node].url + "/chat/completions", json=CHAT, headers=headers, timeout=REQUEST_TIMEOUT_S
    )


def cost_msat(response: httpx.Response) -> int:
    """What the node says a successful call cost (0 for a call that failed)."""
    return int(response.headers.get("x-routstr-cost-msats", 0)) if response.status_code == 200 else 0
