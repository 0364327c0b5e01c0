"""Receiving against a real mint: a proof must be worth one of its keyset's denominations, and planning the largest
token the node accepts keeps the event loop responsive."""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import InvalidToken
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_y
from app.cashu.tokens import decode_token
from app.cashu.wallet import execute_swap, plan_receive
from tests.fixtures.mint import RunningMint

LARGEST_PROOFS = 256
LARGEST_AMOUNT = 786_431  # at most 1,000,000 with the most bits set (19): the most outputs to blind and unblind
LOOP_GAP_S = 0.25  # generous: the machine is shared; a stall of one output per bit of 2^12000 took seconds


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.parametrize("claimed", [3, 2**63 + 1, 2**64 - 1])
async def test_a_proof_worth_no_denomination_is_refused_before_any_swap(
    mint: RunningMint, http: httpx.AsyncClient, claimed: int
) -> None:
    client = MintClient(http, mint.url)
    token = decode_token(await mint.make_token(2))
    forged = token.with_proofs([replace(token.proofs[0], amount=claimed)])

    with pytest.raises(InvalidToken):
        await plan_receive(client, forged)

    states = await client.checkstate([proof_y(p) for p in token.proofs])
    assert [s.state for s in states] == [ProofState.UNSPENT]


async def test_the_largest_accepted_token_is_received_without_stalling_the_loop(
    mint: RunningMint, http: httpx.AsyncClient
) -> None:
    client = MintClient(http, mint.url)
    token = decode_token(await mint.make_token(LARGEST_AMOUNT, proofs=LARGEST_PROOFS))
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def receive() -> int:
        try:
            plan = await plan_receive(client, token)
            return sum(p.amount for p in await execute_swap(client, plan))
        finally:
            done.set()

    received, _ = await asyncio.gather(receive(), ticker())

    assert received == LARGEST_AMOUNT
    assert max(gaps) < LOOP_GAP_S, f"the event loop stalled {max(gaps) * 1000:.0f} ms"
