"""The journal of operations with mints, in SQL: one row per operation, journaled (`planned`) before anything goes to
the mint, then moved on once to `completed` or `failed` (or `parked` for the operator). Reading rows, inserting a
plan, rewriting it, and the one conditional state move (`update_if_open`) that the money moves follow."""

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Work
from app.db.tables import cashu_operations
from app.treasury.records import OPEN_STATES, Operation, OpKind, OpState

OPEN_STATE_VALUES = [state.value for state in OPEN_STATES]


def operation_from_row(row: Any) -> Operation:
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


def find_operation(conn: Connection, op_id: str) -> Operation | None:
    row = conn.execute(select(cashu_operations).where(cashu_operations.c.id == op_id)).first()
    return operation_from_row(row) if row else None


def required_operation(conn: Connection, op_id: str) -> Operation:
    """The operation, which the caller knows exists (it journaled or finished it in this transaction)."""
    found = find_operation(conn, op_id)
    assert found is not None, op_id
    return found


def get_operation(op_id: str) -> Work[Operation | None]:
    return lambda conn: find_operation(conn, op_id)


def operation_by_token(token_hash: str) -> Work[Operation | None]:
    def work(conn: Connection) -> Operation | None:
        row = conn.execute(select(cashu_operations).where(cashu_operations.c.token_hash == token_hash)).first()
        return operation_from_row(row) if row else None

    return work


def open_operations() -> Work[list[Operation]]:
    """Every operation not finished: planned (in flight or to retry) and parked (left for the operator)."""

    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(cashu_operations.c.state.in_(OPEN_STATE_VALUES))
            .order_by(cashu_operations.c.created_at)
        ).all()
        return [operation_from_row(row) for row in rows]

    return work


def due_operations(now: int) -> Work[list[Operation]]:
    """Planned operations whose next try is due (recovery's work list)."""

    def work(conn: Connection) -> list[Operation]:
        rows = conn.execute(
            select(cashu_operations)
            .where(cashu_operations.c.state == OpState.PLANNED.value, cashu_operations.c.next_try_at <= now)
            .order_by(cashu_operations.c.created_at)
        ).all()
        return [operation_from_row(row) for row in rows]

    return work


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
    keep_destination: bool = False,
) -> Work[Operation]:
    """Journal an operation before anything goes to the mint. For a token already journaled, returns that
    operation instead, unless it failed without touching the mint: then this plan takes its place (with
    `keep_destination`, only when it credits the same key: a token from a public event stays with its first payee)."""

    def work(conn: Connection) -> Operation:
        values = {
            "id": op_id, "kind": kind.value, "purpose": purpose, "state": OpState.PLANNED.value,
            "mint_url": mint_url, "token_hash": token_hash, "target_key_hash": target_key_hash, "key_id": key_id,
            "amount_msat": 0, "plan": plan_json, "created_at": now, "updated_at": now,
        }  # fmt: skip
        if _insert_ignoring_conflict(conn, values):
            return required_operation(conn, op_id)
        existing = operation_by_token(token_hash or "")(conn)
        assert existing is not None
        never_sent = existing.state is OpState.FAILED and existing.error == "not_executed"
        same_destination = not keep_destination or existing.key_id == key_id
        if never_sent and same_destination and _replace(conn, existing, values):
            return required_operation(conn, op_id)
        return operation_by_token(token_hash or "")(conn) or existing

    return work


def _insert_ignoring_conflict(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert an operation unless its token is already journaled. True if this call inserted it."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(cashu_operations).values(**values).on_conflict_do_nothing()
    return bool(conn.execute(statement).rowcount)


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


def update_if_open(conn: Connection, op_id: str, now: int, **values: Any) -> bool:
    """Move an open operation on, in one conditional statement: True for exactly one caller, however many race (on
    PostgreSQL a concurrent one waits for the row and then finds it no longer open). The money moves after it."""
    result = conn.execute(
        update(cashu_operations)
        .where(cashu_operations.c.id == op_id, cashu_operations.c.state.in_(OPEN_STATE_VALUES))
        .values(updated_at=now, **values)
    )
    return bool(result.rowcount)


def fail_operation(op_id: str, error: str, now: int, scrubbed_plan: str | None = None) -> Work[None]:
    def work(conn: Connection) -> None:
        values: dict[str, Any] = {"state": OpState.FAILED.value, "error": error}
        if scrubbed_plan is not None:
            values["plan"] = scrubbed_plan
        update_if_open(conn, op_id, now, **values)

    return work


def note_attempt(op_id: str, now: int, backoff_s: Callable[[int], int], cap: int) -> Work[Operation | None]:
    """One more try left the operation unresolved: the next waits `backoff_s(attempts)`, and after `cap` tries it is
    parked for the operator. None when the operation is no longer planned."""

    def work(conn: Connection) -> Operation | None:
        op = find_operation(conn, op_id)
        if op is None or op.state is not OpState.PLANNED:
            return op
        attempts = op.attempts + 1
        state = OpState.PARKED if attempts >= cap else OpState.PLANNED
        update_if_open(conn, op_id, now, attempts=attempts, next_try_at=now + backoff_s(attempts), state=state.value)
        return find_operation(conn, op_id)

    return work
