"""Read-only views of the node's wallet for audits: every proof with its state and its operation's, and every
settled operation. One transaction each; nothing here writes."""

from dataclasses import dataclass

from sqlalchemy import Connection, select

from app.db.database import Work
from app.db.tables import cashu_operations, wallet_proofs
from app.treasury.journal import operation_from_row
from app.treasury.records import Operation, OpKind, OpState


@dataclass(frozen=True, slots=True)
class AuditedProof:
    id: int
    mint_url: str
    amount: int
    secret: str
    state: str  # held | reserved | spent
    operation_state: OpState | None  # of the operation that reserved or spent it


def proofs_with_operations() -> Work[list[AuditedProof]]:
    def work(conn: Connection) -> list[AuditedProof]:
        rows = conn.execute(
            select(
                wallet_proofs.c.id,
                wallet_proofs.c.mint_url,
                wallet_proofs.c.amount,
                wallet_proofs.c.secret,
                wallet_proofs.c.state,
                cashu_operations.c.state.label("operation_state"),
            )
            .outerjoin(cashu_operations, cashu_operations.c.id == wallet_proofs.c.operation_id)
            .order_by(wallet_proofs.c.id)
        ).all()
        return [
            AuditedProof(r.id, r.mint_url, r.amount, r.secret, r.state,
                         OpState(r.operation_state) if r.operation_state else None)
            for r in rows
        ]  # fmt: skip

    return work


def settled_operations() -> Work[list[Operation]]:
    """Deposits, refunds and withdrawals that completed or failed, oldest first (planned and parked ones are still
    open)."""

    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(
                cashu_operations.c.state.in_([OpState.COMPLETED.value, OpState.FAILED.value]),
                cashu_operations.c.kind.in_([OpKind.DEPOSIT.value, OpKind.REFUND.value, OpKind.WITHDRAWAL.value]),
            )
            .order_by(cashu_operations.c.created_at, cashu_operations.c.id)
        ).all()
        return [operation_from_row(row) for row in rows]

    return work
