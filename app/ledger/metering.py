"""The per-request hot path: reserve, settle, release. Same contract as the rest of the ledger (atomic, refusals
before writes), written as plain SQL because it runs twice for every LLM request: on SQLite straight on the driver
inside the writer thread's transaction, on PostgreSQL batched through meter_batch() (migration 0003)."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from app.db.database import PostgresDatabase, Work
from app.errors import InsufficientBalance, NodeError, Unauthorized
from app.ledger.records import Reservation, Settlement

_SQLITE_RESERVE = (
    "UPDATE api_keys SET reserved_msat = reserved_msat + ?1"
    " WHERE key_hash = ?2 AND balance_msat - reserved_msat >= ?1 RETURNING id"
)
_SQLITE_HOLD = "INSERT INTO reservations (request_id, key_id, amount_msat, created_at) VALUES (?, ?, ?, ?)"
_SQLITE_UNHOLD = "DELETE FROM reservations WHERE request_id = ? RETURNING key_id, amount_msat"
_SQLITE_AVAILABLE = "SELECT balance_msat - reserved_msat FROM api_keys WHERE id = ?"
_SQLITE_CHARGE = (
    "UPDATE api_keys SET balance_msat = balance_msat - ?, reserved_msat = reserved_msat - ?"
    " WHERE id = ? RETURNING balance_msat"
)
_SQLITE_ENTRY = (
    "INSERT INTO ledger_entries (key_id, kind, amount_msat, balance_after_msat, request_id, ref, created_at)"
    " VALUES (?, 'charge', ?, ?, ?, ?, ?)"
)
_SQLITE_KEY_STATE = "SELECT balance_msat - reserved_msat FROM api_keys WHERE key_hash = ?"


def _sqlite(conn: Connection) -> Any:
    """The sqlite3 connection under `conn`, already inside the writer thread's transaction."""
    return conn.connection.driver_connection


def reserve(key_hash: str, amount_msat: int, request_id: str, now: int) -> Work[Reservation]:
    """Hold `amount_msat` of the key's available balance; 401 for an unknown key, 402 when short."""

    def work(conn: Connection) -> Reservation:
        raw = _sqlite(conn)
        row = raw.execute(_SQLITE_RESERVE, (amount_msat, key_hash)).fetchone()
        if row is None:
            raise _refusal(raw.execute(_SQLITE_KEY_STATE, (key_hash,)).fetchone(), amount_msat)
        raw.execute(_SQLITE_HOLD, (request_id, row[0], amount_msat, now))
        return Reservation(request_id=request_id, key_id=int(row[0]), amount_msat=amount_msat)

    return work


def _refusal(key_state: Sequence[Any] | None, amount_msat: int) -> NodeError:
    if key_state is None:
        return Unauthorized()
    available = int(key_state[0])
    return InsufficientBalance(
        f"insufficient balance: this request needs up to {amount_msat} msat, {available} msat available",
        needed_msat=amount_msat,
        available_msat=available,
    )


def settle(request_id: str, cost_msat: int, now: int, ref: str | None = None) -> Work[Settlement | None]:
    """Charge the actual cost and release the rest of the reservation, exactly once (None if already done).

    A cost above the reservation is taken from the rest of the available balance as far as it goes; what it
    cannot cover is reported as unpaid rather than driving the balance negative."""

    def work(conn: Connection) -> Settlement | None:
        raw = _sqlite(conn)
        held_row = raw.execute(_SQLITE_UNHOLD, (request_id,)).fetchone()
        if held_row is None:
            return None
        key_id, held = int(held_row[0]), int(held_row[1])
        charge = cost_msat
        if cost_msat > held:
            charge = min(cost_msat, int(raw.execute(_SQLITE_AVAILABLE, (key_id,)).fetchone()[0]) + held)
        balance = int(raw.execute(_SQLITE_CHARGE, (charge, held, key_id)).fetchone()[0])
        if charge:
            raw.execute(_SQLITE_ENTRY, (key_id, -charge, balance, request_id, ref, now))
        return Settlement(request_id, key_id, held, charge, cost_msat - charge, balance)

    return work


def release(request_id: str) -> Work[bool]:
    """Give a reservation back untouched (the upstream failed before any output). False if already settled."""

    def work(conn: Connection) -> bool:
        raw = _sqlite(conn)
        held = raw.execute(_SQLITE_UNHOLD, (request_id,)).fetchone()
        if held is None:
            return False
        raw.execute(_SQLITE_CHARGE, (0, held[1], held[0]))
        return True

    return work


async def reserve_pg(pg: PostgresDatabase, key_hash: str, amount_msat: int, request_id: str, now: int) -> Reservation:
    row = await pg.meter("reserve", request_id, key_hash=key_hash, amount_msat=amount_msat, ref=None, now=now)
    status, key_id, available = row[1], row[2], row[6]
    if status != "ok":
        raise _refusal(None if status == "unknown" else (available,), amount_msat)
    return Reservation(request_id=request_id, key_id=int(key_id), amount_msat=amount_msat)


async def settle_pg(
    pg: PostgresDatabase, request_id: str, cost_msat: int, now: int, ref: str | None
) -> Settlement | None:
    row = await pg.meter("settle", request_id, amount_msat=cost_msat, ref=ref, now=now)
    if row[1] != "ok":
        return None
    key_id, balance, charge, held = (int(value) for value in row[2:6])
    return Settlement(request_id, key_id, held, charge, cost_msat - charge, balance)


async def release_pg(pg: PostgresDatabase, request_id: str, now: int) -> bool:
    row = await pg.meter("release", request_id, ref=None, now=now)
    return bool(row[1] == "ok")
