"""Wallet flows over one MintClient: receive a token by swapping it, settle a swap whose outcome is unknown, and
mint fresh proofs. Storage is the caller's: every plan is plain data to persist before the request is sent.

Crash-safe receive, as the payments layer drives it:
    plan = await plan_receive(client, token)   # persist plan.to_dict()
    proofs = await execute_swap(client, plan)  # on SwapOutcomeUnknown (or after a crash): recover_swap(client, plan)
"""

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.cashu.client import MintClient
from app.cashu.errors import InvalidToken, MintRejected, SwapFeesExceedAmount, TokenZeroValue, UntrustedMint
from app.cashu.keysets import (
    KeysetInfo,
    choose_output_keyset,
    expand_proof_ids,
    fee_table,
    input_fee,
    split_amount,
)
from app.cashu.messages import ProofState
from app.cashu.outputs import (
    OutputPlan,
    plan_amounts,
    proof_dleq_valid,
    proof_y,
    proofs_from_signatures,
    restored_proofs,
)
from app.cashu.p2pk import P2pkKey, p2pk_secret
from app.cashu.tokens import Proof, Token, normalize_mint_url, same_mint, sum_amounts


@dataclass(frozen=True, slots=True)
class SwapPlan:
    """One swap: inputs (with full keyset ids), the planned outputs and the fee the mint keeps.

    With `send_amount`, the first outputs (split_amount(send_amount)) are to give away, the rest is change.
    """

    mint_url: str
    inputs: tuple[Proof, ...]
    outputs: OutputPlan
    fee: int
    send_amount: int = 0

    @property
    def output_amount(self) -> int:
        return self.outputs.amount

    def to_dict(self) -> dict[str, Any]:
        return {
            "mint_url": self.mint_url,
            "inputs": [proof.to_dict() for proof in self.inputs],
            "outputs": self.outputs.to_dict(),
            "fee": self.fee,
            "send_amount": self.send_amount,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SwapPlan":
        return cls(
            mint_url=str(data["mint_url"]),
            inputs=tuple(Proof.from_dict(item) for item in data["inputs"]),
            outputs=OutputPlan.from_dict(data["outputs"]),
            fee=int(data["fee"]),
            send_amount=int(data.get("send_amount", 0)),
        )

    def split_send(self, proofs: Sequence[Proof]) -> tuple[tuple[Proof, ...], tuple[Proof, ...]]:
        """The swap's resulting proofs (in plan order) as (to send, change)."""
        count = len(split_amount(self.send_amount))
        return tuple(proofs[:count]), tuple(proofs[count:])


class SwapOutcome(StrEnum):
    COMPLETED = "completed"  # the mint spent the inputs and signed our outputs: proofs recovered
    NOT_EXECUTED = "not_executed"  # inputs unspent: nothing happened, the plan may be retried as is
    PENDING = "pending"  # inputs are pending at the mint: ask again later
    SPENT_ELSEWHERE = "spent_elsewhere"  # inputs spent, but not for our outputs (a double spend by the sender)


@dataclass(frozen=True, slots=True)
class SwapRecovery:
    outcome: SwapOutcome
    proofs: tuple[Proof, ...] = ()


def require_trusted_mint(token: Token, trusted_mints: Iterable[str]) -> str:
    """The token's mint, normalised, if the node accepts it; UntrustedMint otherwise."""
    mint = normalize_mint_url(token.mint)
    if mint not in {normalize_mint_url(url) for url in trusted_mints}:
        raise UntrustedMint()
    return mint


async def plan_receive(client: MintClient, token: Token, *, unlock: P2pkKey | None = None) -> SwapPlan:
    """A swap of the token's proofs into fresh ones of ours, worth its value minus the mint's input fee. With
    `unlock`, the proofs must be P2PK-locked to that key (NUT-11) and are spent with its signatures."""
    if not same_mint(token.mint, client.url):
        raise UntrustedMint("the token is from another mint than this client's")
    if token.amount <= 0:
        raise TokenZeroValue()
    return await plan_swap(client, token.proofs, unit=token.unit, unlock=unlock)


async def plan_swap(
    client: MintClient,
    proofs: Sequence[Proof],
    *,
    unit: str = "sat",
    amounts: Sequence[int] | None = None,
    unlock: P2pkKey | None = None,
    lock_to: str | None = None,
) -> SwapPlan:
    """Swap `proofs` into outputs of `amounts` (default: the whole net value, split in powers of two); with
    `unlock`, P2PK-locked proofs signed by that key (their DLEQs checked first, as a receiver of locked ecash must);
    with `lock_to`, outputs P2PK-locked to that pubkey (a nutzap's, spendable by its owner only).

    Blinding runs in a worker thread: it is EC math, a few ms for the largest token the node accepts."""
    keysets = await _keysets_knowing(client, {proof.id for proof in proofs})
    inputs = expand_proof_ids(proofs, [keyset.id for keyset in keysets])
    await _require_denominations(client, inputs)
    if unlock is not None:
        await _require_valid_dleqs(client, inputs)
        inputs = await asyncio.to_thread(unlock.signed, inputs)
    fee = input_fee(inputs, fee_table(keysets))
    net = sum_amounts(inputs) - fee
    if net <= 0:
        raise SwapFeesExceedAmount()
    wanted = list(amounts) if amounts is not None else split_amount(net)
    if sum(wanted) != net:
        raise ValueError(f"output amounts must sum to {net} (inputs minus the fee of {fee})")
    output_keyset = choose_output_keyset(keysets, unit)
    secret_for = (lambda: p2pk_secret(lock_to)) if lock_to is not None else None
    outputs = await asyncio.to_thread(plan_amounts, wanted, output_keyset.id, secret_for)
    return SwapPlan(client.url, inputs, outputs, fee)


async def plan_send(client: MintClient, proofs: Sequence[Proof], amount: int, *, unit: str = "sat") -> SwapPlan:
    """Swap `proofs` into exactly `amount` to give away plus change (all of the rest, less the fee)."""
    keysets = await _keysets_knowing(client, {proof.id for proof in proofs})
    inputs = expand_proof_ids(proofs, [keyset.id for keyset in keysets])
    change = sum_amounts(inputs) - input_fee(inputs, fee_table(keysets)) - amount
    if amount <= 0 or change < 0:
        raise ValueError(f"cannot send {amount} from proofs worth {sum_amounts(proofs)} after fees")
    plan = await plan_swap(client, proofs, unit=unit, amounts=split_amount(amount) + split_amount(change))
    return replace(plan, send_amount=amount)


def select_proofs(proofs: Iterable[Proof], amount: int, fee_ppk_by_keyset: Mapping[str, int]) -> list[Proof]:
    """Proofs worth at least `amount` plus the fee to spend them, largest first; ValueError when short."""
    chosen: list[Proof] = []
    for proof in sorted(proofs, key=lambda p: p.amount, reverse=True):
        if sum_amounts(chosen) >= amount + input_fee(chosen, fee_ppk_by_keyset):
            break
        chosen.append(proof)
    if sum_amounts(chosen) < amount + input_fee(chosen, fee_ppk_by_keyset):
        raise ValueError(f"proofs do not cover {amount} plus fees")
    return chosen


async def execute_swap(client: MintClient, plan: SwapPlan) -> tuple[Proof, ...]:
    """Send the planned swap and return our new proofs. SwapOutcomeUnknown means: call recover_swap later."""
    keyset = await client.keys(plan.outputs.keyset_id)
    signatures = await client.swap(plan.inputs, plan.outputs.blinded_messages)
    return await asyncio.to_thread(proofs_from_signatures, plan.outputs, signatures, keyset)


async def recover_swap(client: MintClient, plan: SwapPlan) -> SwapRecovery:
    """Find out what became of a swap sent without an answer: NUT-07 on the inputs, NUT-09 for our outputs."""
    ys = await asyncio.to_thread(lambda: [proof_y(proof) for proof in plan.inputs])  # hash_to_curve per input
    return await recover_outputs(client, ys, plan.outputs)


async def recover_outputs(client: MintClient, input_ys: Sequence[str], outputs: OutputPlan) -> SwapRecovery:
    """`recover_swap` from what a journal may keep without the inputs themselves: their Ys and our outputs."""
    states = {entry.state for entry in await client.checkstate(list(input_ys))}
    if ProofState.SPENT in states:
        keyset = await client.keys(outputs.keyset_id)
        restored = await client.restore(outputs.blinded_messages)
        proofs = await asyncio.to_thread(restored_proofs, outputs, restored, keyset)
        if proofs:
            return SwapRecovery(SwapOutcome.COMPLETED, proofs)
        return SwapRecovery(SwapOutcome.SPENT_ELSEWHERE)
    if ProofState.PENDING in states:
        return SwapRecovery(SwapOutcome.PENDING)
    return SwapRecovery(SwapOutcome.NOT_EXECUTED)


async def receive_token(client: MintClient, token: Token) -> tuple[Proof, ...]:
    """Plan and execute in one go, for callers that need no crash recovery (tests, tools)."""
    return await execute_swap(client, await plan_receive(client, token))


async def mint_proofs(
    client: MintClient, amount: int, *, amounts: Sequence[int] | None = None, unit: str = "sat"
) -> tuple[Proof, ...]:
    """NUT-04 with a mint that settles invoices at once (FakeWallet): quote, check it is paid, mint."""
    if amounts is not None and sum(amounts) != amount:
        raise ValueError("proof amounts must sum to the amount minted")
    quote = await client.mint_quote(amount, unit)
    if not (await client.mint_quote_status(quote.quote)).paid:
        raise MintRejected("the mint quote is not paid")
    keyset = await client.keys(choose_output_keyset(await client.keysets(), unit).id)
    wanted = split_amount(amount) if amounts is None else list(amounts)
    plan = await asyncio.to_thread(plan_amounts, wanted, keyset.id)
    signatures = await client.mint(quote.quote, plan.blinded_messages)
    return await asyncio.to_thread(proofs_from_signatures, plan, signatures, keyset)


async def _require_denominations(client: MintClient, proofs: Sequence[Proof]) -> None:
    """Every proof must be worth an amount its keyset has a key for. Anything else is forged, and a huge amount
    would have the node plan one output per bit of it."""
    for keyset_id in dict.fromkeys(proof.id for proof in proofs):
        keys = (await client.keys(keyset_id)).keys
        if any(proof.amount not in keys for proof in proofs if proof.id == keyset_id):
            raise InvalidToken(f"a proof's amount is not one of keyset {keyset_id}'s denominations")


async def _require_valid_dleqs(client: MintClient, proofs: Sequence[Proof]) -> None:
    """NUT-12: a proof that carries a DLEQ must carry a valid one (the mint's own check comes with the swap)."""
    for proof in proofs:
        if proof.dleq is not None and not proof_dleq_valid(proof, await client.keys(proof.id)):
            raise InvalidToken("a proof's DLEQ does not verify against the mint's key")


async def _keysets_knowing(client: MintClient, keyset_ids: set[str]) -> tuple[KeysetInfo, ...]:
    """The mint's keysets, refreshed once if a proof names a keyset the cached list lacks."""
    keysets = await client.keysets()
    if all(any(keyset.id.startswith(kid) for keyset in keysets) for kid in keyset_ids):
        return keysets
    return await client.keysets(refresh=True)
