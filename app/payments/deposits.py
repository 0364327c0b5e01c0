"""Ecash in: redeem a token at its (trusted) mint first, then credit what was actually received, once ever.

Every deposit is journaled with its swap plan before the swap goes out, keyed by the token's hash, and owned (a lease
in the database) by the request that journaled it: the same token string presented again, in this process or
another, reaches the first deposit's outcome (waiting for its owner, or recovering it if the owner is gone), never a
second swap or a second credit."""

import asyncio
import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.cashu.errors import (
    CashuError,
    InvalidToken,
    MintUnreachable,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
    UntrustedMint,
)
from app.cashu.p2pk import P2pkKey
from app.cashu.tokens import Proof, Token, TokenLimits, decode_token
from app.cashu.wallet import plan_receive
from app.errors import MinimumBalanceRequired
from app.ledger.keys import KEY_PREFIX, hash_key
from app.ledger.records import Account
from app.ledger.service import Ledger
from app.money import sat_to_msat
from app.payments.foreign import ForeignSwaps
from app.payments.mints import TrustedMints
from app.payments.ownership import Ownership
from app.payments.plans import plan_json
from app.payments.recovery import UNIT, Recovery
from app.payments.settlement import send_swap
from app.treasury.records import OPEN_STATES, Operation, OpKind, OpState
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

WAIT_FOR_PEER_S = 20.0


class Payee(Protocol):
    """The account a top-up credits, for tokens that travel in public events (a Nostr customer's): opened only when
    money arrives, and the first payee journaled for a token is the only one it may credit."""

    async def find(self) -> int | None: ...

    async def open(self) -> int: ...


class Purpose(StrEnum):
    CREATE = "create"  # a new key, returned to the depositor
    BEARER = "bearer"  # the token string itself is the key (Authorization: Bearer cashu...)
    XCASHU = "xcashu"  # pays one request; the change goes back (X-Cashu header)
    TOPUP = "topup"  # adds to an existing key


# The token's own key (`key_for_token`): a create, a Bearer token and an X-Cashu token credit the same key
_TOKEN_KEYED = {Purpose.CREATE, Purpose.BEARER, Purpose.XCASHU}


@dataclass(frozen=True, slots=True)
class Deposit:
    account: Account
    credited_msat: int  # 0 when this token was deposited before
    api_key: str | None = None  # the token's key (`key_for_token`), for the purposes that credit it


def token_hash(token_text: str) -> str:
    return hash_key(token_text)


def key_for_token(token_text: str) -> str:
    """The API key a token is deposited to: `sk-` + sha256(token), as Routstr's clients derive it on their own. A
    retried create (after a lost reply or a 503) reaches the same key, and a token used as Bearer or X-Cashu pays
    from it. Stored only as its hash, like every key."""
    return KEY_PREFIX + token_hash(token_text.strip())


def _target_key_hash(purpose: Purpose, token_text: str) -> str | None:
    return hash_key(key_for_token(token_text)) if purpose in _TOKEN_KEYED else None


class Deposits:
    def __init__(
        self,
        ledger: Ledger,
        treasury: Treasury,
        mints: TrustedMints,
        ownership: Ownership,
        recovery: Recovery,
        *,
        limits: TokenLimits,
        foreign: ForeignSwaps | None = None,
    ) -> None:
        self._foreign = foreign  # None: tokens of untrusted mints are refused (FOREIGN_MINTS=refuse)
        self._ledger = ledger
        self._limits = limits
        self._treasury = treasury
        self._mints = mints
        self._ownership = ownership
        self._recovery = recovery

    async def deposit(
        self,
        token_text: str,
        purpose: Purpose,
        *,
        key_id: int | None = None,
        payee: Payee | None = None,
        minimum_msat: int = 0,
        unlock: P2pkKey | None = None,
    ) -> Deposit:
        """With `minimum_msat`, a token that would credit less is refused before the mint is asked (untouched).
        With `unlock`, the token's proofs are P2PK-locked to that key (NIP-61 nutzaps): only a trusted mint's.
        With `payee` instead of `key_id`, a top-up's account is opened only once the token has passed every check
        made before the mint is asked, and a token journaled for another payee is refused (see `_payee_key`)."""
        token_text = token_text.strip()
        token = await asyncio.to_thread(_decode, token_text, self._limits)  # bounded, but ms for 256 proofs
        try:
            client = self._mints.client_for(token.mint)
        except UntrustedMint:
            if self._foreign is None or unlock is not None:
                raise
            return await self._deposit_foreign(token_text, token, purpose, key_id, payee, minimum_msat)
        plan = await plan_receive(client, token, unlock=unlock)
        _require_minimum(sat_to_msat(plan.output_amount), minimum_msat)
        key_id = key_id if payee is None else await self._payee_key(payee, token_text)
        op_id = os.urandom(16).hex()
        async with self._ownership.own(op_id):  # owned before it is journaled: no other process can send it
            op = await self._treasury.begin(
                op_id=op_id, kind=OpKind.DEPOSIT, purpose=purpose.value, mint_url=client.normalized_url,
                plan_json=plan_json(plan, keep_inputs=False), token_hash=token_hash(token_text),
                target_key_hash=_target_key_hash(purpose, token_text), key_id=key_id,
                keep_destination=payee is not None,
            )  # fmt: skip
            if op.id == op_id:
                outcome = await send_swap(client, plan, sent_before=False)
                finished = await self._recovery.finish(op, outcome)
                deposit = await self._answer(finished, purpose, token_text, outcome.refusal)
                log.info("deposit.credited op=%s key_id=%s amount_msat=%d", op_id, deposit.account.id,
                         deposit.credited_msat)  # fmt: skip
                return deposit
        return await self._reuse(op, purpose, token_text, key_id, plan.inputs, unlock)

    async def _deposit_foreign(
        self,
        token_text: str,
        token: Token,
        purpose: Purpose,
        key_id: int | None,
        payee: Payee | None,
        minimum_msat: int,
    ) -> Deposit:
        """A token of a mint the node does not trust, melted there into an invoice of the first trusted mint
        (app.payments.foreign): journaled and owned like any deposit, credited once with what arrived."""
        assert self._foreign is not None
        planned = await self._foreign.plan(token)
        _require_minimum(sat_to_msat(planned.plan.amount_sat), minimum_msat)
        key_id = key_id if payee is None else await self._payee_key(payee, token_text)
        op_id = os.urandom(16).hex()
        async with self._ownership.own(op_id):
            op = await self._treasury.begin(
                op_id=op_id, kind=OpKind.FOREIGN, purpose=purpose.value, mint_url=planned.trusted_url,
                plan_json=planned.plan.to_json(), token_hash=token_hash(token_text),
                target_key_hash=_target_key_hash(purpose, token_text), key_id=key_id,
                keep_destination=payee is not None,
            )  # fmt: skip
            if op.id == op_id:
                refusal = await self._foreign.first_try(op, planned.inputs)
                finished = await self._treasury.get(op_id)
                assert finished is not None, op_id
                deposit = await self._answer(finished, purpose, token_text, refusal)
                log.info("deposit.foreign_credited op=%s key_id=%s amount_msat=%d", op_id, deposit.account.id,
                         deposit.credited_msat)  # fmt: skip
                return deposit
        return await self._reuse(op, purpose, token_text, key_id, planned.inputs)

    async def _payee_key(self, payee: Payee, token_text: str) -> int:
        """The payee's account; opened only for a token never journaled. A token journaled for another payee is
        refused whatever came of it: a payee's tokens travel in public events, and one copied into a stranger's event
        is not theirs even while it is still unspent (its first swap never reached the mint)."""
        journaled = await self._treasury.by_token(token_hash(token_text))
        found = await payee.find()
        if journaled is not None and (found is None or journaled.key_id != found):
            raise TokenAlreadySpent("this token has already been redeemed")
        return found if found is not None else await payee.open()

    async def _reuse(
        self,
        op: Operation,
        purpose: Purpose,
        token_text: str,
        key_id: int | None,
        inputs: tuple[Proof, ...],
        unlock: P2pkKey | None = None,
    ) -> Deposit:
        """The token was journaled before: answer with that deposit's outcome, settling it first if needed (with the
        token's proofs at hand, a swap that never happened can be sent again as planned)."""
        if not _same_destination(op, purpose, key_id):
            raise TokenAlreadySpent("this token has already been redeemed")
        op = await self._recovery.settled(op.id, WAIT_FOR_PEER_S, inputs)
        if op.state is OpState.FAILED and op.error == "not_executed":
            return await self.deposit(token_text, purpose, key_id=key_id, unlock=unlock)
        deposit = await self._answer(op, purpose, token_text)
        if purpose is Purpose.TOPUP:  # as Routstr answers; the caller learns it was credited here from the fields
            raise TokenAlreadySpent(
                f"this token was already credited to this key ({deposit.credited_msat} msat)",
                credited_msat=deposit.credited_msat,
                balance_msat=deposit.account.balance_msat,
            )
        return Deposit(deposit.account, 0, deposit.api_key)

    async def _answer(
        self, op: Operation, purpose: Purpose, token_text: str, refusal: CashuError | None = None
    ) -> Deposit:
        """The deposit as the journal has it (whoever settled it), or the error that says why there is none."""
        if op.state is OpState.COMPLETED and op.key_id is not None:
            account = await self._ledger.find_by_id(op.key_id)
            assert account is not None
            return Deposit(account, op.amount_msat, _handed_key(purpose, token_text))
        if op.state in OPEN_STATES:
            raise SwapOutcomeUnknown("this token's redemption is still being settled with the mint; try again shortly")
        if refusal is not None:
            raise refusal
        raise _error_for(op.error)


def _require_minimum(worth_msat: int, minimum_msat: int) -> None:
    if worth_msat < minimum_msat:
        raise MinimumBalanceRequired(
            f"this token is worth {worth_msat} msat after the mint's fee; this request may cost up to"
            f" {minimum_msat} msat",
            needed_msat=minimum_msat,
            available_msat=worth_msat,
        )


def _decode(token_text: str, limits: TokenLimits) -> Token:
    token = decode_token(token_text, limits)
    if token.unit != UNIT:
        raise InvalidToken(f"only {UNIT} tokens are accepted, not {token.unit}")
    return token


def _same_destination(op: Operation, purpose: Purpose, key_id: int | None) -> bool:
    if purpose is Purpose.TOPUP:
        return op.purpose == purpose.value and op.key_id == key_id  # a retried top-up of the same key
    return op.purpose in _TOKEN_KEYED


def _handed_key(purpose: Purpose, token_text: str) -> str | None:
    return key_for_token(token_text) if purpose in _TOKEN_KEYED else None


def _error_for(code: str | None) -> CashuError | MintUnreachable:
    if code == "not_executed":
        return MintUnreachable("the mint could not be reached; nothing was redeemed, try again")
    if code == "already_spent":
        return TokenAlreadySpent()
    return InvalidToken(f"this token could not be redeemed ({code})")
