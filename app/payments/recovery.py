"""Finishing journaled mint operations whose outcome is unknown: after a crash, a transport error, or when the same
token comes back while its first deposit is unresolved. Never guessed: NUT-07 says whether the inputs were spent,
NUT-09 gives back the signatures on our outputs, and a swap that never reached the mint is sent again as planned."""

import logging

from app.cashu.client import MintClient
from app.cashu.errors import CashuError, MintUnreachable
from app.cashu.tokens import Token, encode_token_v4
from app.cashu.wallet import SwapOutcome, SwapPlan, SwapRecovery, execute_swap, recover_swap
from app.payments.inflight import InFlight
from app.payments.mints import TrustedMints
from app.payments.plans import load_plan, scrubbed, to_new_proofs
from app.treasury.records import Operation, OpKind, OpState
from app.treasury.service import Treasury

log = logging.getLogger(__name__)

UNIT = "sat"


class Recovery:
    def __init__(self, treasury: Treasury, mints: TrustedMints, inflight: InFlight) -> None:
        self._treasury = treasury
        self._mints = mints
        self._inflight = inflight

    async def recover_open(self) -> int:
        """Try every planned operation not being executed by this process; returns how many were resolved."""
        resolved = 0
        for op in await self._treasury.open_operations():
            if self._inflight.running(op.id) or op.kind is OpKind.LIGHTNING:
                continue
            try:
                resolved += await self.recover(op)
            except MintUnreachable:
                log.warning("recovery.mint_unreachable op=%s mint=%s", op.id, op.mint_url)
        return resolved

    async def recover(self, op: Operation) -> bool:
        async with self._inflight.hold(op.id):
            current = await self._treasury.get(op.id)
            if current is None or current.state is not OpState.PLANNED:
                return False
            plan, extra = load_plan(current.plan)
            outcome = await self._outcome(self._mints.client_for_journal(current.mint_url), plan)
            log.info("recovery.outcome op=%s kind=%s outcome=%s", op.id, op.kind, outcome.outcome)
            if current.kind is OpKind.DEPOSIT:
                await self._recover_deposit(current, plan, outcome)
            else:
                await self._recover_refund(current, plan, int(extra.get("user_outputs", 0)), outcome)
            return outcome.outcome is not SwapOutcome.PENDING

    async def _outcome(self, client: MintClient, plan: SwapPlan) -> SwapRecovery:
        """What became of the swap; one that never happened is sent again, as planned (same outputs). Undoing it
        instead would hand the inputs back while the first request might still reach the mint late."""
        outcome = await recover_swap(client, plan)
        if outcome.outcome is not SwapOutcome.NOT_EXECUTED:
            return outcome
        try:
            return SwapRecovery(SwapOutcome.COMPLETED, await execute_swap(client, plan))
        except MintUnreachable:
            return SwapRecovery(SwapOutcome.PENDING)
        except CashuError as refused:
            log.warning("recovery.retry_refused error=%s", type(refused).__name__)
            return await recover_swap(client, plan)  # spent meanwhile (a late first request), or truly refused

    async def _recover_deposit(self, op: Operation, plan: SwapPlan, outcome: SwapRecovery) -> None:
        if outcome.outcome is SwapOutcome.COMPLETED:
            proofs = to_new_proofs(outcome.proofs, op.mint_url, UNIT)
            await self._treasury.complete_deposit(op.id, proofs, scrubbed(plan))
        elif outcome.outcome is SwapOutcome.NOT_EXECUTED:
            await self._treasury.fail(op.id, "not_executed", scrubbed(plan))
        elif outcome.outcome is SwapOutcome.SPENT_ELSEWHERE:
            await self._treasury.fail(op.id, "already_spent", scrubbed(plan))

    async def _recover_refund(self, op: Operation, plan: SwapPlan, user_outputs: int, outcome: SwapRecovery) -> None:
        if outcome.outcome is SwapOutcome.COMPLETED:
            by_secret = {p.secret: p for p in outcome.proofs}
            ordered = [by_secret[o.secret] for o in plan.outputs.outputs if o.secret in by_secret]
            user, change = ordered[:user_outputs], ordered[user_outputs:]
            token = encode_token_v4(Token(mint=plan.mint_url, unit=UNIT, proofs=tuple(user)))
            await self._treasury.complete_refund(op.id, to_new_proofs(change, op.mint_url, UNIT), token, scrubbed(plan))
        elif outcome.outcome is SwapOutcome.NOT_EXECUTED:
            await self._treasury.undo_refund(op.id, "not_executed")
        elif outcome.outcome is SwapOutcome.SPENT_ELSEWHERE:
            log.error("recovery.refund_inputs_spent_elsewhere op=%s", op.id)
            await self._treasury.undo_refund(op.id, "inputs_spent_elsewhere", inputs_spent=True)
