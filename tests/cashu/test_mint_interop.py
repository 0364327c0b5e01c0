"""Interoperability with the nutshell wallet CLI, and a mint that goes down mid-flow."""

from collections.abc import AsyncIterator

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import MintUnreachable, SwapOutcomeUnknown
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_y
from app.cashu.tokens import Token, decode_token, encode_token_v4, same_mint, sum_amounts
from app.cashu.wallet import execute_swap, plan_receive, receive_token
from tests.fixtures.mint import RunningMint


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.parametrize(("legacy", "prefix"), [(False, "cashuB"), (True, "cashuA")])
async def test_tokens_sent_by_the_nutshell_cli_decode_and_swap(
    mint: RunningMint, http: httpx.AsyncClient, legacy: bool, prefix: str
) -> None:
    text = await mint.cli_send(21, legacy=legacy)

    token = decode_token(text)
    proofs = await receive_token(MintClient(http, mint.url), token)

    assert text.startswith(prefix)
    assert same_mint(token.mint, mint.url)
    assert token.amount == sum_amounts(proofs) == 21


async def test_the_nutshell_cli_receives_a_token_we_encode(mint: RunningMint, http: httpx.AsyncClient) -> None:
    # cashuB with our DLEQs and short keyset ids; cashuA encoding is pinned by the spec vector in test_tokens.
    token = decode_token(await mint.make_token(7))

    output = mint.cli("receive", encode_token_v4(Token(mint=mint.url, proofs=token.proofs, memo="from routstr")))

    states = await MintClient(http, mint.url).checkstate([proof_y(p) for p in token.proofs])
    assert {s.state for s in states} == {ProofState.SPENT}
    assert "Received 7 sat" in output


async def test_a_stopped_mint_is_unreachable_and_a_plan_survives_it(mint: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint.url)
    plan = await plan_receive(client, decode_token(await mint.make_token(4)))
    await client.keys(plan.outputs.keyset_id)

    mint.stop()
    try:
        with pytest.raises(MintUnreachable) as refused:
            await execute_swap(client, plan)
        assert not isinstance(refused.value, SwapOutcomeUnknown)  # never sent, so nothing to settle
        with pytest.raises(MintUnreachable):
            await client.keysets(refresh=True)
    finally:
        mint.start()

    assert sum_amounts(await execute_swap(client, plan)) == 4
