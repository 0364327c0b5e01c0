"""Ecash in: redeem a token at its (trusted) mint first, then credit what was actually received, once ever.

Every deposit is journaled with its swap plan before the swap goes out, keyed by the token's hash: the same token
string presented again (concurrently or later) reaches the first deposit's outcome, never a second credit."""

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from enum import StrEnum

from app.cashu.errors import (
    BadMintSignature,
    CashuError,
    InvalidToken,
    MintUnreachable,
    SwapOutcomeUnknown,
    TokenAlreadySpent,
)
from app.cashu.tokens import Token, TokenLimits, decode_token
from app.cashu.wallet import SwapPlan, execute_swap, plan_receive
from app.ledger.keys import hash_key
from app.ledger.records import Account
from app.ledger.service import Ledger
from app.payments.inflight import InFlight
from app.payments.mints import TrustedMints
from app.payments.plans import plan_json, scrubbed, to_new_proofs
from app.payments.recovery import UNIT, Recovery
from app.treasury.records import Operation, OpKind, OpState
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

WAIT_FOR_PEER_S = 20.0


class Purpose(StrEnum):
    CREATE = "create"  # a new key, returned to the depositor
    BEARER = "bearer"  # the token string itself is the key (Authorization: Bearer cashu...)
    XCASHU = "xcashu"  # pays one request; the change goes back (X-Cashu header)
    TOPUP = "topup"  # adds to an existing key


_TOKEN_KEYED = {Purpose.BEARER, Purpose.XCASHU}


@dataclass(frozen=True, slots=True)
class Deposit:
    account: Account
    credited_msat: int  # 0 when this token was deposited before
    api_key: str | None = None  # the key to hand out, for Purpose.CREATE


def token_hash(token_text: str) -> str:
    return hashlib.sha256(token_text.encode()).hexdigest()


def key_created_by(token_text: str) -> str:
    """The API key a `create` deposit of this token makes. Derived from the token, so that a retried create (after
    a lost reply or a 503) reaches the same key instead of stranding the money."""
    return "sk-" + hashlib.sha256(b"routstr-node/create\x00" + token_text.encode()).hexdigest()


def _target_key_hash(purpose: Purpose, token_text: str) -> str | None:
    if purpose is Purpose.CREATE:
        return hash_key(key_created_by(token_text))
    if purpose in _TOKEN_KEYED:
        return hash_key(token_text)
    return None


class Deposits:
    def __init__(
        self,
        ledger: Ledger,
        treasury: Treasury,
        mints: TrustedMints,
        inflight: InFlight,
        recovery: Recovery,
        *,
        limits: TokenLimits,
    ) -> None:
        self._ledger = ledger
        self._limits = limits
        self._treasury = treasury
        self._mints = mints
        self._inflight = inflight
        self._recovery = recovery

    async def deposit(self, token_text: str, purpose: Purpose, *, key_id: int | None = None) -> Deposit:
        token_text = token_text.strip()
        token = await asyncio.to_thread(_decode, token_text, self._limits)  # bounded, but ms for 256 proofs
        client = self._mints.client_for(token.mint)
        plan = await plan_receive(client, token)
        op_id = os.urandom(16).hex()
        op = await self._treasury.begin(
            op_id=op_id, kind=OpKind.DEPOSIT, purpose=purpose.value, mint_url=client.normalized_url,
            plan_json=plan_json(plan), token_hash=token_hash(token_text),
            target_key_hash=_target_key_hash(purpose, token_text), key_id=key_id,
        )  # fmt: skip
        if op.id != op_id:
            return await self._reuse(op, purpose, token_text, key_id)
        return await self._redeem(op, plan, purpose, token_text)

    async def _redeem(self, op: Operation, plan: SwapPlan, purpose: Purpose, token_text: str) -> Deposit:
        client = self._mints.client_for_journal(op.mint_url)
        async with self._inflight.hold(op.id):
            try:
                proofs = await execute_swap(client, plan)
            except SwapOutcomeUnknown:
                log.warning("deposit.outcome_unknown op=%s", op.id)
                raise
            except (MintUnreachable, CashuError) as failure:
                await self._treasury.fail(op.id, _failure_code(failure), await _scrubbed(plan))
                raise
            account = await self._treasury.complete_deposit(op.id, to_new_proofs(proofs, op.mint_url, UNIT),
                                                           await _scrubbed(plan))  # fmt: skip
        if account is None:
            raise TokenAlreadySpent("this token was settled by another request meanwhile")
        credited = sum(p.amount for p in proofs) * 1000
        log.info("deposit.credited op=%s key_id=%s amount_msat=%d", op.id, account.id, credited)
        return Deposit(account, credited, _handed_key(purpose, token_text))

    async def _reuse(self, op: Operation, purpose: Purpose, token_text: str, key_id: int | None) -> Deposit:
        """The token was journaled before: answer with that deposit's outcome, settling it first if needed."""
        if not _same_destination(op, purpose, key_id):
            raise TokenAlreadySpent("this token has already been redeemed")
        op = await self._resolved(op)
        if op.state is OpState.COMPLETED and op.key_id is not None:
            account = await self._ledger.find_by_id(op.key_id)
            assert account is not None
            return Deposit(account, 0, _handed_key(purpose, token_text))
        if op.state is OpState.PLANNED:
            raise MintUnreachable("this token's redemption is still being settled with the mint; try again shortly")
        if op.error == "not_executed":
            return await self.deposit(token_text, purpose, key_id=key_id)
        raise _error_for(op.error)

    async def _resolved(self, op: Operation) -> Operation:
        if op.state is not OpState.PLANNED:
            return op
        if self._inflight.running(op.id):
            await self._inflight.wait(op.id, WAIT_FOR_PEER_S)
        else:
            await self._recovery.recover(op)
        current = await self._treasury.get(op.id)
        assert current is not None
        return current


def _decode(token_text: str, limits: TokenLimits) -> Token:
    token = decode_token(token_text, limits)
    if token.unit != UNIT:
        raise InvalidToken(f"only {UNIT} tokens are accepted, not {token.unit}")
    return token


async def _scrubbed(plan: SwapPlan) -> str:
    return await asyncio.to_thread(scrubbed, plan)  # hash_to_curve per input: ms for the largest token


def _same_destination(op: Operation, purpose: Purpose, key_id: int | None) -> bool:
    if purpose is Purpose.TOPUP:
        return op.purpose == purpose.value and op.key_id == key_id  # a retried top-up of the same key
    if purpose in _TOKEN_KEYED:
        return op.purpose in _TOKEN_KEYED
    return op.purpose == purpose.value


def _handed_key(purpose: Purpose, token_text: str) -> str | None:
    return key_created_by(token_text) if purpose is Purpose.CREATE else None


def _failure_code(failure: Exception) -> str:
    if isinstance(failure, MintUnreachable):
        return "not_executed"
    if isinstance(failure, TokenAlreadySpent):
        return "already_spent"
    if isinstance(failure, BadMintSignature):
        return "bad_mint_signature"
    return "invalid"


def _error_for(code: str | None) -> CashuError:
    if code == "already_spent":
        return TokenAlreadySpent()
    return InvalidToken(f"this token could not be redeemed earlier ({code})")
