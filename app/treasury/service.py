"""The node's wallet journal as the payments layer sees it: async calls, one transaction each."""

import time
from collections.abc import Callable, Sequence

from app.db.database import Database
from app.ledger import audit
from app.ledger.records import Account, Totals
from app.treasury import deposits, journal, proofs, refunds, withdrawals
from app.treasury.earnings import Earnings, current_earnings
from app.treasury.records import HeldProof, MintHoldings, NewProof, Operation, OpKind, RefundPlan


class Treasury:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    def _now(self) -> int:
        return int(self._clock())

    async def begin(
        self,
        *,
        op_id: str,
        kind: OpKind,
        purpose: str,
        mint_url: str,
        plan_json: str,
        token_hash: str | None = None,
        target_key_hash: str | None = None,
        key_id: int | None = None,
        keep_destination: bool = False,
    ) -> Operation:
        return await self._db.run(
            journal.begin_operation(
                op_id=op_id, kind=kind, purpose=purpose, mint_url=mint_url, plan_json=plan_json, now=self._now(),
                token_hash=token_hash, target_key_hash=target_key_hash, key_id=key_id,
                keep_destination=keep_destination,
            )
        )  # fmt: skip

    async def get(self, op_id: str) -> Operation | None:
        return await self._db.run(journal.get_operation(op_id))

    async def by_token(self, token_hash: str) -> Operation | None:
        return await self._db.run(journal.operation_by_token(token_hash))

    async def open_operations(self) -> list[Operation]:
        return await self._db.run(journal.open_operations())

    async def due_operations(self) -> list[Operation]:
        return await self._db.run(journal.due_operations(self._now()))

    async def note_attempt(self, op_id: str, backoff_s: Callable[[int], int], cap: int) -> Operation | None:
        return await self._db.run(journal.note_attempt(op_id, self._now(), backoff_s, cap))

    async def complete_deposit(self, op_id: str, received: Sequence[NewProof], scrubbed_plan: str) -> Account | None:
        return await self._db.run(deposits.complete_deposit(op_id, received, scrubbed_plan, self._now()))

    async def replace_plan(self, op_id: str, current: str, new: str) -> bool:
        return await self._db.run(journal.replace_plan(op_id, current, new, self._now()))

    async def fail(self, op_id: str, error: str, scrubbed_plan: str | None = None) -> None:
        await self._db.run(journal.fail_operation(op_id, error, self._now(), scrubbed_plan))

    async def begin_refund(
        self,
        *,
        op_id: str,
        key_id: int,
        mint_url: str,
        unit: str,
        plan: Callable[[list[HeldProof], int], RefundPlan],
        while_in_flight: bool = False,
        purpose: str = "refund",
    ) -> RefundPlan | None:
        return await self._db.run(
            refunds.begin_refund(
                op_id=op_id,
                key_id=key_id,
                mint_url=mint_url,
                unit=unit,
                now=self._now(),
                plan=plan,
                while_in_flight=while_in_flight,
                purpose=purpose,
            )
        )

    async def complete_refund(
        self, op_id: str, change: Sequence[NewProof], token: str, scrubbed_plan: str
    ) -> str | None:
        return await self._db.run(refunds.complete_refund(op_id, change, token, scrubbed_plan, self._now()))

    async def complete_lightning_refund(
        self, op_id: str, change: Sequence[NewProof], returned_msat: int, result: str, plan_json: str
    ) -> bool:
        return await self._db.run(
            refunds.complete_lightning_refund(op_id, change, returned_msat, result, plan_json, self._now())
        )

    async def undo_refund(self, op_id: str, error: str, *, inputs_spent: bool = False) -> bool:
        return await self._db.run(refunds.undo_refund(op_id, error, self._now(), inputs_spent=inputs_spent))

    async def open_refunds(self, key_id: int) -> list[Operation]:
        return [op for op in await self.open_operations() if op.kind is OpKind.REFUND and op.key_id == key_id]

    async def latest_refund_token(self, key_id: int) -> str | None:
        return await self._db.run(refunds.latest_refund_token(key_id))

    async def holdings(self) -> list[MintHoldings]:
        return await self._db.run(proofs.holdings())

    async def totals(self) -> Totals:
        return await self._db.run(audit.totals())

    async def earnings(self) -> Earnings:
        return await self._db.run(current_earnings())

    async def begin_withdrawal(
        self, *, op_id: str, mint_url: str, purpose: str, plan: withdrawals.Planner
    ) -> withdrawals.WithdrawalPlan:
        return await self._db.run(
            withdrawals.begin_withdrawal(op_id=op_id, mint_url=mint_url, purpose=purpose, now=self._now(), plan=plan)
        )

    async def complete_withdrawal(
        self, op_id: str, change: Sequence[NewProof], result: str, scrubbed_plan: str, amount_msat: int | None = None
    ) -> str | None:
        return await self._db.run(
            withdrawals.complete_withdrawal(op_id, change, result, scrubbed_plan, self._now(), amount_msat)
        )

    async def undo_withdrawal(self, op_id: str, error: str, *, inputs_spent: bool = False) -> bool:
        return await self._db.run(withdrawals.undo_withdrawal(op_id, error, self._now(), inputs_spent=inputs_spent))

    async def withdrawn_msat(self) -> int:
        return await self._db.run(withdrawals.withdrawn_msat())

    async def recent_withdrawals(self, limit: int = 20) -> list[Operation]:
        return await self._db.run(withdrawals.recent_withdrawals(limit))
