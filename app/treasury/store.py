"""The node's wallet in SQL: proofs it holds and the journal of operations with mints. Crediting and debiting keys
for ecash happens here, in the same transaction as the wallet change, so assets and balances move together."""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Work
from app.db.tables import cashu_operations, wallet_proofs
from app.ledger.accounts import credit_in, debit_out, find_by_hash, find_by_id, insert_account
from app.ledger.records import Account, EntryKind
from app.treasury.records import HeldProof, MintHoldings, NewProof, Operation, OpKind, OpState, RefundPlan

HELD, RESERVED, SPENT = "held", "reserved", "spent"


def _operation(row: Any) -> Operation:
    return Operation(
        id=row.id,
        kind=OpKind(row.kind),
        purpose=row.purpose,
        state=OpState(row.state),
        mint_url=row.mint_url,
        token_hash=row.token_hash,
        target_key_hash=row.target_key_hash,
        key_id=row.key_id,
        amount_msat=row.amount_msat,
        plan=row.plan,
        result=row.result,
        error=row.error,
        created_at=row.created_at,
    )


def _get(conn: Connection, op_id: str) -> Operation | None:
    row = conn.execute(select(cashu_operations).where(cashu_operations.c.id == op_id)).first()
    return _operation(row) if row else None


def get_operation(op_id: str) -> Work[Operation | None]:
    return lambda conn: _get(conn, op_id)


def operation_by_token(token_hash: str) -> Work[Operation | None]:
    def work(conn: Connection) -> Operation | None:
        row = conn.execute(select(cashu_operations).where(cashu_operations.c.token_hash == token_hash)).first()
        return _operation(row) if row else None

    return work


def open_operations() -> Work[list[Operation]]:
    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(cashu_operations.c.state == OpState.PLANNED.value)
            .order_by(cashu_operations.c.created_at)
        ).all()
        return [_operation(row) for row in rows]

    return work


def _insert_ignoring_conflict(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an operation unless its token is already journaled. True if this call inserted it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(cashu_operations).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(statement).rowcount)


def begin_operation(
    *,
    op_id: str,
    kind: OpKind,
    purpose: str,
    mint_url: str,
    plan_json: str,
    now: int,
    token_hash: str | None = None,
    target_key_hash: str | None = None,
    key_id: int | None = None,
) -> Work[Operation]:
    """Journal an operation before anything goes to the mint. For a token already journaled, returns that
    operation instead, unless it failed without touching the mint: then this plan takes its place."""

    def work(conn: Connection) -> Operation:
        values = {
            "id": op_id, "kind": kind.value, "purpose": purpose, "state": OpState.PLANNED.value,
            "mint_url": mint_url, "token_hash": token_hash, "target_key_hash": target_key_hash, "key_id": key_id,
            "amount_msat": 0, "plan": plan_json, "created_at": now, "updated_at": now,
        }  # fmt: skip
        if _insert_ignoring_conflict(conn, values):
            return _get_required(conn, op_id)
        existing = operation_by_token(token_hash or "")(conn)
        assert existing is not None
        if existing.state is OpState.FAILED and existing.error == "not_executed":
            conn.execute(cashu_operations.delete().where(cashu_operations.c.id == existing.id))
            conn.execute(cashu_operations.insert().values(**values))
            return _get_required(conn, op_id)
        return existing

    return work


def _get_required(conn: Connection, op_id: str) -> Operation:
    found = _get(conn, op_id)
    assert found is not None, op_id
    return found


def _insert_proofs(conn: Connection, proofs: Sequence[NewProof], op_id: str, now: int) -> None:
    if proofs:
        conn.execute(
            wallet_proofs.insert(),
            [
                {"mint_url": p.mint_url, "unit": p.unit, "keyset_id": p.keyset_id, "amount": p.amount,
                 "secret": p.secret, "c": p.c, "state": HELD, "operation_id": op_id, "created_at": now}
                for p in proofs
            ],
        )  # fmt: skip


def _finish(conn: Connection, op_id: str, now: int, **values: Any) -> None:
    conn.execute(
        update(cashu_operations)
        .where(cashu_operations.c.id == op_id, cashu_operations.c.state == OpState.PLANNED.value)
        .values(updated_at=now, **values)
    )


def _account_for(conn: Connection, op: Operation, now: int) -> int:
    if op.key_id is not None:
        return op.key_id
    assert op.target_key_hash is not None
    existing = find_by_hash(op.target_key_hash)(conn)
    return existing.id if existing else insert_account(conn, op.target_key_hash, now)


def complete_deposit(op_id: str, proofs: Sequence[NewProof], scrubbed_plan: str, now: int) -> Work[Account | None]:
    """Keep the received proofs and credit their value to the operation's key, once. None if already settled."""

    def work(conn: Connection) -> Account | None:
        op = _get_required(conn, op_id)
        if op.state is not OpState.PLANNED:
            return None
        amount_msat = sum(p.amount for p in proofs) * 1000
        key_id = _account_for(conn, op, now)
        _insert_proofs(conn, proofs, op_id, now)
        credit_in(conn, key_id, amount_msat, EntryKind.DEPOSIT, now, ref=op_id)
        _finish(conn, op_id, now, state=OpState.COMPLETED.value, key_id=key_id, amount_msat=amount_msat,
                plan=scrubbed_plan)  # fmt: skip
        return find_by_id(key_id)(conn)

    return work


def fail_operation(op_id: str, error: str, now: int, scrubbed_plan: str | None = None) -> Work[None]:
    def work(conn: Connection) -> None:
        values: dict[str, Any] = {"state": OpState.FAILED.value, "error": error}
        if scrubbed_plan is not None:
            values["plan"] = scrubbed_plan
        _finish(conn, op_id, now, **values)

    return work


def begin_refund(
    *, op_id: str, key_id: int, mint_url: str, unit: str, now: int, plan: Callable[[list[HeldProof], int], RefundPlan]
) -> Work[RefundPlan | None]:
    """Debit the key's whole available balance in whole sats, promise proofs of `mint_url` to the refund and journal
    its plan, in one transaction. `plan(held_proofs, available_sat)` decides (pure). None if nothing to refund."""

    def work(conn: Connection) -> RefundPlan | None:
        account = find_by_id(key_id)(conn)
        if account is None or account.available_msat < 1000:
            return None
        decided = plan(held_proofs(conn, mint_url, unit), account.available_msat // 1000)
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.id.in_(decided.proof_ids), wallet_proofs.c.state == HELD)
            .values(state=RESERVED, operation_id=op_id)
        )
        debit_out(conn, key_id, decided.debit_msat, EntryKind.REFUND, now, ref=op_id)
        conn.execute(
            cashu_operations.insert().values(
                id=op_id, kind=OpKind.REFUND.value, purpose="refund", state=OpState.PLANNED.value, mint_url=mint_url,
                key_id=key_id, amount_msat=decided.debit_msat, plan=decided.plan_json, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return decided

    return work


def held_proofs(conn: Connection, mint_url: str, unit: str) -> list[HeldProof]:
    rows = conn.execute(
        select(wallet_proofs)
        .where(wallet_proofs.c.mint_url == mint_url, wallet_proofs.c.unit == unit, wallet_proofs.c.state == HELD)
        .order_by(wallet_proofs.c.amount.desc())
    ).all()
    return [HeldProof(r.id, r.mint_url, r.unit, r.keyset_id, r.amount, r.secret, r.c) for r in rows]


def reserved_proofs(op_id: str) -> Work[list[HeldProof]]:
    def work(conn: Connection) -> list[HeldProof]:
        rows = conn.execute(
            select(wallet_proofs).where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
        ).all()
        return [HeldProof(r.id, r.mint_url, r.unit, r.keyset_id, r.amount, r.secret, r.c) for r in rows]

    return work


def complete_refund(
    op_id: str, change: Sequence[NewProof], token: str, scrubbed_plan: str, now: int
) -> Work[str | None]:
    """The swap happened: the promised proofs are spent, the change is ours, the token is kept for re-fetching."""

    def work(conn: Connection) -> str | None:
        op = _get_required(conn, op_id)
        if op.state is not OpState.PLANNED:
            return op.result
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
            .values(state=SPENT)
        )
        _insert_proofs(conn, change, op_id, now)
        _finish(conn, op_id, now, state=OpState.COMPLETED.value, result=token, plan=scrubbed_plan)
        return token

    return work


def undo_refund(op_id: str, error: str, now: int, *, inputs_spent: bool = False) -> Work[bool]:
    """The refund cannot happen: give the key its money back, and the proofs back to the wallet (or, when the mint
    says something else spent them, write them off: the wallet report then shows the loss)."""

    def work(conn: Connection) -> bool:
        op = _get_required(conn, op_id)
        if op.state is not OpState.PLANNED or op.key_id is None:
            return False
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
            .values(state=SPENT if inputs_spent else HELD, operation_id=op_id if inputs_spent else None)
        )
        credit_in(conn, op.key_id, op.amount_msat, EntryKind.REFUND_REVERSED, now, ref=op_id)
        _finish(conn, op_id, now, state=OpState.FAILED.value, error=error)
        return True

    return work


def latest_refund_token(key_id: int) -> Work[str | None]:
    def work(conn: Connection) -> str | None:
        row = conn.execute(
            select(cashu_operations.c.result)
            .where(
                cashu_operations.c.key_id == key_id,
                cashu_operations.c.kind == OpKind.REFUND.value,
                cashu_operations.c.state == OpState.COMPLETED.value,
            )
            .order_by(cashu_operations.c.updated_at.desc(), cashu_operations.c.created_at.desc())
        ).first()
        return None if row is None else row[0]

    return work


def holdings() -> Work[list[MintHoldings]]:
    def work(conn: Connection) -> list[MintHoldings]:
        rows = conn.execute(
            select(
                wallet_proofs.c.mint_url,
                wallet_proofs.c.unit,
                wallet_proofs.c.state,
                func.coalesce(func.sum(wallet_proofs.c.amount), 0),
                func.count(),
            )
            .where(wallet_proofs.c.state != SPENT)
            .group_by(wallet_proofs.c.mint_url, wallet_proofs.c.unit, wallet_proofs.c.state)
        ).all()
        by_mint: dict[tuple[str, str], dict[str, int]] = {}
        for mint_url, unit, state, total, count in rows:
            entry = by_mint.setdefault((mint_url, unit), {HELD: 0, RESERVED: 0, "proofs": 0})
            entry[state] += int(total)
            entry["proofs"] += int(count)
        return [MintHoldings(m, u, v[HELD], v[RESERVED], v["proofs"]) for (m, u), v in sorted(by_mint.items())]

    return work
