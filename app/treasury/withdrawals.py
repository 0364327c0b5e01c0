"""The operator's withdrawals in SQL, one transaction each, journaled like refunds (kind `withdrawal`, no key).

A withdrawal is decided under the locks refunds take: every held proof of the unit is locked first (PostgreSQL's
FOR UPDATE, in the order refunds lock them, so the two never deadlock; SQLite has one writer at a time), then the
earnings are read in the same transaction, then the chosen proofs are promised to the withdrawal. A refund that
debited a key before is seen (its debit is a pending refund, its proofs are gone from the held ones); one that comes
after sees the proofs the withdrawal left. So a withdrawal never takes a msat that a balance needs."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from app.db.database import Work
from app.db.tables import cashu_operations, wallet_proofs
from app.errors import NodeError
from app.money import sat_to_msat
from app.treasury.earnings import UNIT, earnings_in
from app.treasury.journal import operation_from_row, required_operation, update_if_open
from app.treasury.proofs import HELD, SPENT, held_proofs, keep_proofs, reserve_proofs, settle_reserved_proofs
from app.treasury.records import HeldProof, NewProof, Operation, OpKind, OpState


class NotWithdrawable(NodeError):
    default_message = "that much cannot be withdrawn: it would take from what the node owes its users"


@dataclass(frozen=True, slots=True)
class WithdrawalPlan:
    """What the payments layer decided inside the withdrawal's transaction."""

    proof_ids: tuple[int, ...]
    plan_json: str
    amount_msat: int  # what may leave the treasury: the operator's amount and the mint's fee (or fee reserve)


Planner = Callable[[list[HeldProof], int], WithdrawalPlan]  # (held proofs of the mint, withdrawable sat) -> plan


def begin_withdrawal(*, op_id: str, mint_url: str, purpose: str, now: int, plan: Planner) -> Work[WithdrawalPlan]:
    """Check what may be withdrawn from `mint_url`, promise the planned proofs and journal the plan, at once."""

    def work(conn: Connection) -> WithdrawalPlan:
        _lock_held(conn)
        mint = earnings_in(conn, UNIT).mint(mint_url)
        withdrawable_sat = mint.withdrawable_sat if mint else 0
        decided = plan(held_proofs(conn, mint_url, UNIT), withdrawable_sat)
        if decided.amount_msat > sat_to_msat(withdrawable_sat):
            raise NotWithdrawable(f"at most {withdrawable_sat} sat may be withdrawn from {mint_url}, fees included")
        reserve_proofs(conn, decided.proof_ids, op_id)
        conn.execute(
            cashu_operations.insert().values(
                id=op_id, kind=OpKind.WITHDRAWAL.value, purpose=purpose, state=OpState.PLANNED.value,
                mint_url=mint_url, amount_msat=decided.amount_msat, plan=decided.plan_json, created_at=now,
                updated_at=now,
            )
        )  # fmt: skip
        return decided

    return work


def _lock_held(conn: Connection) -> None:
    conn.execute(
        select(wallet_proofs.c.id)
        .where(wallet_proofs.c.unit == UNIT, wallet_proofs.c.state == HELD)
        .order_by(wallet_proofs.c.amount.desc(), wallet_proofs.c.id)
        .with_for_update()
    ).all()


def complete_withdrawal(
    op_id: str, change: Sequence[NewProof], result: str, scrubbed_plan: str, now: int, amount_msat: int | None = None
) -> Work[str | None]:
    """The mint did it: the promised proofs are spent, the change is held again, `result` (the operator's token, or
    a melt's preimage) is kept. `amount_msat` corrects what left (a melt's fee reserve less its change). Returns the
    result as journaled (also when another caller finished it first)."""

    def work(conn: Connection) -> str | None:
        values = {"amount_msat": amount_msat} if amount_msat is not None else {}
        done = update_if_open(
            conn, op_id, now, state=OpState.COMPLETED.value, result=result, plan=scrubbed_plan, **values
        )
        if not done:
            return required_operation(conn, op_id).result
        settle_reserved_proofs(conn, op_id, SPENT)
        keep_proofs(conn, change, op_id, now)
        return result

    return work


def undo_withdrawal(op_id: str, error: str, now: int, *, inputs_spent: bool = False) -> Work[bool]:
    """The mint will never do it: the proofs go back to the wallet (or are written off when the mint says something
    else spent them; the wallet report then shows the loss)."""

    def work(conn: Connection) -> bool:
        if not update_if_open(conn, op_id, now, state=OpState.FAILED.value, error=error):
            return False
        settle_reserved_proofs(conn, op_id, SPENT if inputs_spent else HELD)
        return True

    return work


def withdrawn_msat() -> Work[int]:
    """What completed withdrawals took out of the treasury, fees included."""

    def work(conn: Connection) -> int:
        total = conn.scalar(
            select(func.coalesce(func.sum(cashu_operations.c.amount_msat), 0)).where(
                cashu_operations.c.kind == OpKind.WITHDRAWAL.value,
                cashu_operations.c.state == OpState.COMPLETED.value,
            )
        )
        return int(total or 0)

    return work


def recent_withdrawals(limit: int = 20) -> Work[list[Operation]]:
    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(cashu_operations.c.kind == OpKind.WITHDRAWAL.value)
            .order_by(cashu_operations.c.created_at.desc(), cashu_operations.c.id)
            .limit(limit)
        ).all()
        return [operation_from_row(row) for row in rows]

    return work
