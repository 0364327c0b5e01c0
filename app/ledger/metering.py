"""The per-request hot path: reserve, settle, release, and the release of reservations left behind. The rules are
in app.ledger.meter_rules; here they are run (a `Meter` per database) and their results turned into records.

A settle's charge is capped at its reservation (the reservation is the maximum the user agreed to pay); a cost
above it is the operator's loss, logged and kept in `uncharged_usage`. A negative or absurd cost is clamped before
anything is written, so a bad usage report can never credit a key."""

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select

from app.db.database import Database, PostgresDatabase, Work
from app.db.tables import reservations
from app.ledger.meter_rules import BATCH_CALL, GONE, INPUTS, OK, RELEASE, RESERVE, SETTLE, Operation
from app.ledger.records import Reservation, Settlement
from app.money import sat_to_msat

log = logging.getLogger(__name__)

ALL_BITCOIN_MSAT = sat_to_msat(21_000_000 * 100_000_000)  # no cost or reservation can be larger


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    values: Mapping[str, Any]

    def __getitem__(self, name: str) -> int:
        return int(self.values[name])


class Meter(Protocol):
    async def run(self, operation: Operation, params: Mapping[str, Any]) -> Outcome: ...


class SqliteMeter:
    """Runs an operation's steps on the sqlite3 driver inside the writer thread's transaction (group-committed)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def run(self, operation: Operation, params: Mapping[str, Any]) -> Outcome:
        return await self._db.run(_steps_of(operation, params), metering=True)


def _steps_of(operation: Operation, params: Mapping[str, Any]) -> Work[Outcome]:
    def work(conn: Connection) -> Outcome:
        raw: Any = conn.connection.driver_connection
        found = dict(params)
        for step in operation.steps:
            cursor = raw.execute(step.statement, found)
            if step.returning:
                row = cursor.fetchone()
                if row is None and step.stop_unless_found:
                    return Outcome(step.stop_unless_found, found)
                found.update(zip(step.names, row or (None,) * len(step.names), strict=True))
        return Outcome(OK, found)

    return work


class PostgresMeter:
    """Runs operations through `meter_batch()`: those queued together go in one round trip and one transaction."""

    def __init__(self, pg: PostgresDatabase) -> None:
        self._pg = pg

    async def run(self, operation: Operation, params: Mapping[str, Any]) -> Outcome:
        args = (operation.name, *(params.get(name) for name in INPUTS))
        row = await self._pg.call_batched(BATCH_CALL, args)
        return Outcome(str(row["status"]), row)


def meter_for(db: Database) -> Meter:
    return PostgresMeter(db) if isinstance(db, PostgresDatabase) else SqliteMeter(db)


async def reserve(
    meter: Meter, key_hash: str, amount_msat: int, request_id: str, owner: str | None, now: int
) -> Outcome:
    if amount_msat < 0:
        raise ValueError("a reservation holds money: its amount cannot be negative")
    params = {"key_hash": key_hash, "amount_msat": amount_msat, "request_id": request_id, "owner": owner, "now": now}
    return await meter.run(RESERVE, params)


def reservation(outcome: Outcome, request_id: str, amount_msat: int) -> Reservation:
    return Reservation(request_id=request_id, key_id=outcome["key_id"], amount_msat=amount_msat)


async def settle(meter: Meter, request_id: str, cost_msat: int, now: int, ref: str | None) -> Settlement | None:
    cost = _sane_cost(request_id, cost_msat)
    outcome = await meter.run(SETTLE, {"request_id": request_id, "cost_msat": cost, "ref": ref, "now": now})
    if outcome.status == GONE:
        return None
    settled = Settlement(
        request_id=request_id,
        key_id=outcome["key_id"],
        reserved_msat=outcome["held_msat"],
        charged_msat=outcome["charged_msat"],
        uncharged_msat=cost - outcome["charged_msat"],
        balance_after_msat=outcome["balance_msat"],
    )
    if settled.uncharged_msat:
        log.warning(
            "metering.over_reservation request_id=%s key_id=%d cost_msat=%d reserved_msat=%d uncharged_msat=%d",
            request_id, settled.key_id, cost, settled.reserved_msat, settled.uncharged_msat,
        )  # fmt: skip
    return settled


def _sane_cost(request_id: str, cost_msat: int) -> int:
    if cost_msat < 0:
        log.error("metering.negative_cost request_id=%s cost_msat=%d: charged 0", request_id, cost_msat)
        return 0
    if cost_msat > ALL_BITCOIN_MSAT:
        log.error("metering.absurd_cost request_id=%s cost_msat=%d: clamped", request_id, cost_msat)
        return ALL_BITCOIN_MSAT
    return cost_msat


async def release(meter: Meter, request_id: str) -> bool:
    return (await meter.run(RELEASE, {"request_id": request_id})).status == OK


async def release_all(meter: Meter, request_ids: Iterable[str]) -> int:
    """Release each reservation; one that a settlement took first is left to it. Returns how many were released."""
    released = await asyncio.gather(*(release(meter, request_id) for request_id in request_ids))
    return sum(released)


def created_before(cutoff: int) -> Work[list[str]]:
    def work(conn: Connection) -> list[str]:
        return list(conn.scalars(select(reservations.c.request_id).where(reservations.c.created_at < cutoff)))

    return work


def owners() -> Work[list[str]]:
    """The processes holding reservations now."""

    def work(conn: Connection) -> list[str]:
        query = select(reservations.c.owner).where(reservations.c.owner.is_not(None)).distinct()
        return [str(owner) for owner in conn.scalars(query)]

    return work


def owned_by(owner_ids: list[str]) -> Work[list[str]]:
    def work(conn: Connection) -> list[str]:
        query = select(reservations.c.request_id).where(reservations.c.owner.in_(owner_ids))
        return list(conn.scalars(query))

    return work
