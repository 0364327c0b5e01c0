"""The adapter against real nutshell mints (fee 0 and 100 ppk): mint, swap, double spend, checkstate, restore."""

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import (
    InvalidToken,
    SwapFeesExceedAmount,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
    TokenZeroValue,
    UntrustedMint,
)
from app.cashu.keysets import derive_keyset_id_v2
from app.cashu.messages import ProofState
from app.cashu.outputs import proof_dleq_valid, proof_y, restored_proofs
from app.cashu.tokens import Token, decode_token, sum_amounts
from app.cashu.wallet import (
    SwapOutcome,
    SwapPlan,
    execute_swap,
    mint_proofs,
    plan_receive,
    plan_send,
    receive_token,
    recover_swap,
    require_trusted_mint,
)
from tests.cashu.dropping_proxy import dropping_proxy
from tests.fixtures.mint import RunningMint


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_minted_proofs_carry_a_verified_dleq(mint: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint.url)

    proofs = await mint_proofs(client, 13)

    keyset = await client.keys(proofs[0].id)
    assert sorted(p.amount for p in proofs) == [1, 4, 8]
    assert all(proof_dleq_valid(proof, keyset) for proof in proofs)


async def test_the_mints_keyset_id_matches_its_keys(mint_fee: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint_fee.url)
    (info,) = await client.keysets()

    keyset = await client.keys(info.id)

    assert info.input_fee_ppk == 100
    assert derive_keyset_id_v2(keyset) == info.id


async def test_token_swaps_at_face_value_without_fees(mint: RunningMint, http: httpx.AsyncClient) -> None:
    token = decode_token(await mint.make_token(21, proofs=3))

    proofs = await receive_token(MintClient(http, mint.url), token)

    assert sum_amounts(proofs) == 21
    assert {p.secret for p in proofs}.isdisjoint(p.secret for p in token.proofs)


async def test_21_sat_in_3_proofs_swaps_to_20_at_100_ppk(mint_fee: RunningMint, http: httpx.AsyncClient) -> None:
    token = decode_token(await mint_fee.make_token(21, proofs=3))
    client = MintClient(http, mint_fee.url)

    plan = await plan_receive(client, token)
    proofs = await execute_swap(client, plan)

    assert (plan.fee, sum_amounts(proofs)) == (1, 20)


async def test_a_token_worth_no_more_than_its_fee_is_refused(mint_fee: RunningMint, http: httpx.AsyncClient) -> None:
    token = decode_token(await mint_fee.make_token(1))

    with pytest.raises(SwapFeesExceedAmount):
        await plan_receive(MintClient(http, mint_fee.url), token)


async def test_empty_and_foreign_tokens_are_refused(mint: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint.url)

    with pytest.raises(TokenZeroValue):
        await plan_receive(client, Token(mint=mint.url, proofs=()))
    with pytest.raises(UntrustedMint):
        await plan_receive(client, Token(mint="https://other.example", proofs=()))
    with pytest.raises(UntrustedMint):
        require_trusted_mint(Token(mint=mint.url + "/", proofs=()), ["https://other.example"])
    assert require_trusted_mint(Token(mint=mint.url + "/", proofs=()), [mint.url]) == mint.url


async def test_a_forged_signature_is_an_invalid_token(mint: RunningMint, http: httpx.AsyncClient) -> None:
    token = decode_token(await mint.make_token(2))
    other = decode_token(await mint.make_token(2))
    forged = token.with_proofs([replace(token.proofs[0], C=other.proofs[0].C)])

    with pytest.raises(InvalidToken):
        await receive_token(MintClient(http, mint.url), forged)


async def test_double_spend_is_token_already_spent_and_checkstate_says_spent(
    mint: RunningMint, http: httpx.AsyncClient
) -> None:
    client = MintClient(http, mint.url)
    token = decode_token(await mint.make_token(8))
    await receive_token(client, token)

    with pytest.raises(TokenAlreadySpent):
        await receive_token(client, token)
    states = await client.checkstate([proof_y(p) for p in token.proofs])
    assert [s.state for s in states] == [ProofState.SPENT]


async def test_restore_returns_the_signatures_of_a_swapped_plan(mint: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint.url)
    plan = await plan_receive(client, decode_token(await mint.make_token(5)))
    proofs = await execute_swap(client, plan)

    restored = await client.restore(plan.outputs.blinded_messages)

    keyset = await client.keys(plan.outputs.keyset_id)
    assert restored_proofs(plan.outputs, restored, keyset) == proofs


async def test_a_dropped_swap_answer_is_settled_by_checkstate_and_restore(
    mint: RunningMint, http: httpx.AsyncClient
) -> None:
    plan = await plan_receive(MintClient(http, mint.url), decode_token(await mint.make_token(9)))
    stored = plan.to_dict()  # what a wallet persists before sending

    async with dropping_proxy(mint.url, "/v1/swap") as proxy_url:
        with pytest.raises(SwapOutcomeUnknown):
            await execute_swap(MintClient(http, proxy_url), plan)

    settlement = await recover_swap(MintClient(http, mint.url), SwapPlan.from_dict(stored))
    assert settlement.outcome is SwapOutcome.COMPLETED
    assert sum_amounts(settlement.proofs) == 9
    assert await receive_token(MintClient(http, mint.url), Token(mint.url, settlement.proofs))


async def test_settling_an_unsent_swap_finds_nothing_happened(mint: RunningMint, http: httpx.AsyncClient) -> None:
    client = MintClient(http, mint.url)
    plan = await plan_receive(client, decode_token(await mint.make_token(3)))

    assert (await recover_swap(client, plan)).outcome is SwapOutcome.NOT_EXECUTED
    assert sum_amounts(await execute_swap(client, plan)) == 3


async def test_a_token_spent_by_its_sender_first_settles_as_spent_elsewhere(
    mint: RunningMint, http: httpx.AsyncClient
) -> None:
    client = MintClient(http, mint.url)
    token = decode_token(await mint.make_token(2))
    our_plan = await plan_receive(client, token)
    await receive_token(client, token)  # the sender spends it first

    settlement = await recover_swap(client, our_plan)

    assert (settlement.outcome, settlement.proofs) == (SwapOutcome.SPENT_ELSEWHERE, ())


async def test_send_splits_an_exact_amount_from_change_at_100_ppk(
    mint_fee: RunningMint, http: httpx.AsyncClient
) -> None:
    client = MintClient(http, mint_fee.url)
    ours = await receive_token(client, decode_token(await mint_fee.make_token(21, proofs=3)))  # 20 left, in 2 proofs

    plan = await plan_send(client, ours, 10)
    send, change = SwapPlan.from_dict(plan.to_dict()).split_send(await execute_swap(client, plan))

    assert (sum_amounts(send), sum_amounts(change), plan.fee) == (10, 9, 1)
    received = await receive_token(client, Token(mint_fee.url, send))
    assert sum_amounts(received) == 10 - 1


async def test_melt_pays_an_invoice_and_spends_the_inputs(
    mint: RunningMint, mint_fee: RunningMint, http: httpx.AsyncClient
) -> None:
    # An invoice of the other mint: one of the paying mint's own would be settled internally, racing FakeWallet.
    invoice = (await MintClient(http, mint_fee.url).mint_quote(5)).request
    client = MintClient(http, mint.url)
    quote = await client.melt_quote(invoice)
    proofs = await mint_proofs(client, quote.amount + quote.fee_reserve)

    result = await client.melt(quote.quote, proofs)

    assert result.paid
    states = await client.checkstate([proof_y(p) for p in proofs])
    assert {s.state for s in states} == {ProofState.SPENT}
