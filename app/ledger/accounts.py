"""Transactions on one key: create, find, credit, debit (metering is in app.ledger.metering). Each function returns
the work for `Database.run` (one transaction). Refusals are raised before anything is written (see app.db.database)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from app.db.database import Work
from app.db.tables import api_keys, ledger_entries
from app.ledger.records import Account, EntryKind

_ACCOUNT_COLUMNS = (api_keys.c.id, api_keys.c.key_hash, api_keys.c.balance_msat, api_keys.c.reserved_msat)


def _account(row: Sequence[Any]) -> Account:
    return Account(id=row[0], key_hash=row[1], balance_msat=row[2], reserved_msat=row[3])


def _append_entry(
    conn: Connection,
    *,
    key_id: int,
    kind: EntryKind,
    amount_msat: int,
    balance_after_msat: int,
    now: int,
    request_id: str | None = None,
    ref: str | None = None,
) -> None:
    conn.execute(
        insert(ledger_entries).values(
            key_id=key_id,
            kind=kind.value,
            amount_msat=amount_msat,
            balance_after_msat=balance_after_msat,
            request_id=request_id,
            ref=ref,
            created_at=now,
        )
    )


def find_by_hash(key_hash: str) -> Work[Account | None]:
    def work(conn: Connection) -> Account | None:
        row = conn.execute(select(*_ACCOUNT_COLUMNS).where(api_keys.c.key_hash == key_hash)).first()
        return _account(row) if row else None

    return work


def find_by_id(key_id: int) -> Work[Account | None]:
    def work(conn: Connection) -> Account | None:
        row = conn.execute(select(*_ACCOUNT_COLUMNS).where(api_keys.c.id == key_id)).first()
        return _account(row) if row else None

    return work


def is_disabled(key_id: int) -> Work[bool]:
    def work(conn: Connection) -> bool:
        return conn.scalar(select(api_keys.c.disabled_at).where(api_keys.c.id == key_id)) is not None

    return work


def insert_account(conn: Connection, key_hash: str, now: int) -> int:
    """Create an empty account inside a caller's transaction; money arrives through `credit_in`."""
    result = conn.execute(
        insert(api_keys)
        .values(key_hash=key_hash, balance_msat=0, reserved_msat=0, created_at=now)
        .returning(api_keys.c.id)
    )
    return int(result.scalar_one())


def credit_in(
    conn: Connection, key_id: int, amount_msat: int, kind: EntryKind, now: int, ref: str | None = None
) -> int:
    """Add money to a key inside a caller's transaction, with its ledger row. Returns the new balance."""
    if amount_msat < 0:
        raise ValueError("a credit adds money: use debit_out to take it")
    return _move(conn, key_id, amount_msat, kind, now, ref)


def debit_out(
    conn: Connection, key_id: int, amount_msat: int, kind: EntryKind, now: int, ref: str | None = None
) -> int:
    """Take money from a key inside a caller's transaction, with its (negative) ledger row. Returns the new balance;
    the table's checks refuse a debit below zero or below what is reserved."""
    if amount_msat < 0:
        raise ValueError("a debit takes money: use credit_in to add it")
    return _move(conn, key_id, -amount_msat, kind, now, ref)


def _move(conn: Connection, key_id: int, signed_msat: int, kind: EntryKind, now: int, ref: str | None) -> int:
    balance = conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id)
        .values(balance_msat=api_keys.c.balance_msat + signed_msat)
        .returning(api_keys.c.balance_msat)
    ).scalar_one()
    _append_entry(conn, key_id=key_id, kind=kind, amount_msat=signed_msat, balance_after_msat=balance, now=now, ref=ref)
    return int(balance)


def create_account(key_hash: str, balance_msat: int, now: int, kind: EntryKind, ref: str | None) -> Work[Account]:
    def work(conn: Connection) -> Account:
        key_id = insert_account(conn, key_hash, now)
        balance = credit_in(conn, key_id, balance_msat, kind, now, ref) if balance_msat else 0
        return Account(id=key_id, key_hash=key_hash, balance_msat=balance, reserved_msat=0)

    return work


def credit(key_id: int, amount_msat: int, kind: EntryKind, now: int, ref: str | None) -> Work[int]:
    def work(conn: Connection) -> int:
        return credit_in(conn, key_id, amount_msat, kind, now, ref)

    return work
