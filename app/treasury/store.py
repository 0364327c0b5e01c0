"""The node's wallet in SQL: proofs it holds and the journal of operations with mints. Crediting and debiting keys
for ecash happens here, in the same transaction as the wallet change, so assets and balances move together."""

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Work
from app.db.tables import api_keys, cashu_operations, ledger_entries, wallet_proofs
from app.errors import RequestsInFlight
from app.ledger.accounts import credit_in, debit_out, find_by_hash, find_by_id, insert_account
from app.ledger.records import Account, EntryKind
from app.money import msat_to_sat_floor, sat_to_msat
from app.treasury.errors import ProofsTaken, RefundInProgress
from app.treasury.records import (
    OPEN_STATES,
    HeldProof,
    MintHoldings,
    NewProof,
    Operation,
    OpKind,
    OpState,
    RefundPlan,
)

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
        attempts=row.attempts,
        next_try_at=row.next_try_at,
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


_OPEN = [state.value for state in OPEN_STATES]


def open_operations() -> Work[list[Operation]]:
    """Every operation not finished: planned (in flight or to retry) and parked (left for the operator)."""

    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations).where(cashu_operations.c.state.in_(_OPEN)).order_by(cashu_operations.c.created_at)
        ).all()
        return [_operation(row) for row in rows]

    return work


def due_operations(now: int) -> Work[list[Operation]]:
    """Planned operations whose next try is due (recovery's work list)."""

    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(cashu_operations.c.state == OpState.PLANNED.value, cashu_operations.c.next_try_at <= now)
            .order_by(cashu_operations.c.created_at)
        ).all()
        return [_operation(row) for row in rows]

    return work


def note_attempt(op_id: str, now: int, backoff_s: Callable[[int], int], cap: int) -> Work[Operation | None]:
    """One more try left the operation unresolved: the next waits `backoff_s(attempts)`, and after `cap` tries it is
    parked for the operator. None when the operation is no longer planned."""

    def work(conn: Connection) -> Operation | None:
        op = _get(conn, op_id)
        if op is None or op.state is not OpState.PLANNED:
            return op
        attempts = op.attempts + 1
        state = OpState.PARKED if attempts >= cap else OpState.PLANNED
        _finish(conn, op_id, now, attempts=attempts, next_try_at=now + backoff_s(attempts), state=state.value)
        return _get(conn, op_id)

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
        if existing.state is OpState.FAILED and existing.error == "not_executed" and _replace(conn, existing, values):
            return _get_required(conn, op_id)
        return operation_by_token(token_hash or "")(conn) or existing

    return work


def _replace(conn: Connection, never_sent: Operation, values: dict[str, Any]) -> bool:
    """A new plan in place of one that never reached the mint; False when a concurrent request replaced it first."""
    removed = conn.execute(
        delete(cashu_operations).where(
            cashu_operations.c.id == never_sent.id,
            cashu_operations.c.state == OpState.FAILED.value,
            cashu_operations.c.error == "not_executed",
        )
    ).rowcount
    return bool(removed) and _insert_ignoring_conflict(conn, values)


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


def _finish(conn: Connection, op_id: str, now: int, **values: Any) -> bool:
    """Move an open operation on, in one conditional statement: True for exactly one caller, however many race (on
    PostgreSQL a concurrent one waits for the row and then finds it no longer open). The money moves after it."""
    result = conn.execute(
        update(cashu_operations)
        .where(cashu_operations.c.id == op_id, cashu_operations.c.state.in_(_OPEN))
        .values(updated_at=now, **values)
    )
    return bool(result.rowcount)


def _account_for(conn: Connection, op: Operation, now: int) -> int:
    if op.key_id is not None:
        return op.key_id
    assert op.target_key_hash is not None
    existing = find_by_hash(op.target_key_hash)(conn)
    return existing.id if existing else insert_account(conn, op.target_key_hash, now)


def complete_deposit(op_id: str, proofs: Sequence[NewProof], scrubbed_plan: str, now: int) -> Work[Account | None]:
    """Keep the received proofs and credit their value to the operation's key, once. None if already settled."""

    def work(conn: Connection) -> Account | None:
        amount_msat = sat_to_msat(sum(p.amount for p in proofs))
        if not _finish(conn, op_id, now, state=OpState.COMPLETED.value, amount_msat=amount_msat, plan=scrubbed_plan):
            return None
        key_id = _account_for(conn, _get_required(conn, op_id), now)
        conn.execute(update(cashu_operations).where(cashu_operations.c.id == op_id).values(key_id=key_id))
        _insert_proofs(conn, proofs, op_id, now)
        credit_in(conn, key_id, amount_msat, EntryKind.DEPOSIT, now, ref=op_id)
        return find_by_id(key_id)(conn)

    return work


def replace_plan(op_id: str, current: str, new: str, now: int) -> Work[bool]:
    """Rewrite an operation's plan only if it is still `current`: True for exactly one of concurrent callers."""

    def work(conn: Connection) -> bool:
        result = conn.execute(
            update(cashu_operations)
            .where(cashu_operations.c.id == op_id, cashu_operations.c.plan == current)
            .values(plan=new, updated_at=now)
        )
        return bool(result.rowcount)

    return work


def fail_operation(op_id: str, error: str, now: int, scrubbed_plan: str | None = None) -> Work[None]:
    def work(conn: Connection) -> None:
        values: dict[str, Any] = {"state": OpState.FAILED.value, "error": error}
        if scrubbed_plan is not None:
            values["plan"] = scrubbed_plan
        _finish(conn, op_id, now, **values)

    return work


def begin_refund(
    *,
    op_id: str,
    key_id: int,
    mint_url: str,
    unit: str,
    now: int,
    plan: Callable[[list[HeldProof], int], RefundPlan],
    while_in_flight: bool = False,
    purpose: str = "refund",
) -> Work[RefundPlan | None]:
    """Debit the key's whole available balance in whole sats, promise proofs of `mint_url` to the refund and journal
    its plan, in one transaction. `plan(held_proofs, available_sat)` decides (pure). None if nothing to refund.
    RequestsInFlight while the key holds reservations, unless `while_in_flight` (then what they hold stays)."""

    def work(conn: Connection) -> RefundPlan | None:
        account = _locked_account(conn, key_id)
        if account is not None and account.reserved_msat > 0 and not while_in_flight:
            raise RequestsInFlight()
        if account is None or account.available_msat < 1000:
            return None
        if _open_refund_of(conn, key_id):
            raise RefundInProgress()
        decided = plan(held_proofs(conn, mint_url, unit, lock=True), msat_to_sat_floor(account.available_msat))
        _reserve_proofs(conn, decided.proof_ids, op_id)
        debit_out(conn, key_id, decided.debit_msat, EntryKind.REFUND, now, ref=op_id)
        conn.execute(
            cashu_operations.insert().values(
                id=op_id, kind=OpKind.REFUND.value, purpose=purpose, state=OpState.PLANNED.value, mint_url=mint_url,
                key_id=key_id, amount_msat=decided.debit_msat, plan=decided.plan_json, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return decided

    return work


def _locked_account(conn: Connection, key_id: int) -> Account | None:
    """The key as it is now, locked until the transaction ends (PostgreSQL; SQLite's writer is one at a time), so
    that the available balance cannot change between reading it and debiting it (no reservation slips in)."""
    conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id).with_for_update())
    return find_by_id(key_id)(conn)


def _open_refund_of(conn: Connection, key_id: int) -> bool:
    found = conn.execute(
        select(cashu_operations.c.id).where(
            cashu_operations.c.key_id == key_id,
            cashu_operations.c.kind == OpKind.REFUND.value,
            cashu_operations.c.state.in_(_OPEN),
        )
    ).first()
    return found is not None


def _reserve_proofs(conn: Connection, proof_ids: Sequence[int], op_id: str) -> None:
    taken = conn.execute(
        update(wallet_proofs)
        .where(wallet_proofs.c.id.in_(proof_ids), wallet_proofs.c.state == HELD)
        .values(state=RESERVED, operation_id=op_id)
    ).rowcount
    if taken != len(proof_ids):
        raise ProofsTaken(f"{len(proof_ids) - taken} of the chosen proofs were taken meanwhile")


def held_proofs(conn: Connection, mint_url: str, unit: str, *, lock: bool = False) -> list[HeldProof]:
    """Proofs held for `mint_url`, largest first. With `lock`, locked until the transaction ends (PostgreSQL's FOR
    UPDATE, in one order so two refunds never deadlock; SQLite has one writer at a time): a concurrent refund waits
    for this one's short transaction and then sees what is left. Not SKIP LOCKED: a refund plans from every held
    proof, so skipping would find the wallet short while it is not."""
    query = (
        select(wallet_proofs)
        .where(wallet_proofs.c.mint_url == mint_url, wallet_proofs.c.unit == unit, wallet_proofs.c.state == HELD)
        .order_by(wallet_proofs.c.amount.desc(), wallet_proofs.c.id)
    )
    rows = conn.execute(query.with_for_update() if lock else query).all()
    return [HeldProof(r.mint_url, r.unit, r.keyset_id, r.amount, r.secret, r.c, id=r.id) for r in rows]


def complete_refund(
    op_id: str, change: Sequence[NewProof], token: str, scrubbed_plan: str, now: int
) -> Work[str | None]:
    """The swap happened: the promised proofs are spent, the change is ours, the token is kept for re-fetching."""

    def work(conn: Connection) -> str | None:
        if not _finish(conn, op_id, now, state=OpState.COMPLETED.value, result=token, plan=scrubbed_plan):
            return _get_required(conn, op_id).result
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
            .values(state=SPENT)
        )
        _insert_proofs(conn, change, op_id, now)
        return token

    return work


def complete_lightning_refund(
    op_id: str, change: Sequence[NewProof], returned_msat: int, result: str, plan_json: str, now: int
) -> Work[bool]:
    """A refund paid over Lightning (a melt): the promised proofs are spent, the fee change is ours, and what the
    payment did not use of the debit (the unused fee reserve) goes back to the key. False if already settled."""

    def work(conn: Connection) -> bool:
        if not _finish(conn, op_id, now, state=OpState.COMPLETED.value, result=result, plan=plan_json):
            return False
        op = _get_required(conn, op_id)
        assert op.key_id is not None and 0 <= returned_msat <= op.amount_msat, op_id
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
            .values(state=SPENT)
        )
        _insert_proofs(conn, change, op_id, now)
        if returned_msat:  # the debit is reversed whole and what the payment cost debited (ledger check pairs them)
            credit_in(conn, op.key_id, op.amount_msat, EntryKind.REFUND_REVERSED, now, ref=op_id)
            debit_out(conn, op.key_id, op.amount_msat - returned_msat, EntryKind.REFUND, now, ref=f"{op_id}/paid")
        return True

    return work


def undo_refund(op_id: str, error: str, now: int, *, inputs_spent: bool = False) -> Work[bool]:
    """The refund cannot happen: give the key its money back, and the proofs back to the wallet (or, when the mint
    says something else spent them, write them off: the wallet report then shows the loss)."""

    def work(conn: Connection) -> bool:
        if not _finish(conn, op_id, now, state=OpState.FAILED.value, error=error):
            return False
        op = _get_required(conn, op_id)
        assert op.key_id is not None, op_id
        conn.execute(
            update(wallet_proofs)
            .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
            .values(state=SPENT if inputs_spent else HELD, operation_id=op_id if inputs_spent else None)
        )
        credit_in(conn, op.key_id, op.amount_msat, EntryKind.REFUND_REVERSED, now, ref=op_id)
        return True

    return work


def latest_refund_token(key_id: int) -> Work[str | None]:
    """The token of the key's last paid refund: ordered by the refund's debit in the ledger (a monotonic row id),
    not by a clock, so two refunds in one second never swap places."""

    def work(conn: Connection) -> str | None:
        row = conn.execute(
            select(cashu_operations.c.result)
            .join(ledger_entries, ledger_entries.c.ref == cashu_operations.c.id)
            .where(
                cashu_operations.c.key_id == key_id,
                cashu_operations.c.kind == OpKind.REFUND.value,
                cashu_operations.c.state == OpState.COMPLETED.value,
                cashu_operations.c.purpose == "refund",  # not a payment to a Lightning address: no token
                ledger_entries.c.kind == EntryKind.REFUND.value,
            )
            .order_by(ledger_entries.c.id.desc())
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
