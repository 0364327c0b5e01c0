"""Read-only queries the admin API and dashboard show: keys, ledger rows, usage per model over time, open
reservations, failed mint operations. Each returns work for `Database.run`; rows come back as plain dicts of named
columns (JSON as they are)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select, func, select

from app.db.database import Work
from app.db.tables import api_keys, cashu_operations, ledger_entries, reservations

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {"data": self.rows, "total": self.total, "limit": self.limit, "offset": self.offset}


@dataclass(frozen=True, slots=True)
class EntryFilter:
    key_id: int | None = None
    kind: str | None = None
    since: int | None = None  # unix seconds, inclusive


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """Column names as plain str (SQLAlchemy's are a str subclass that orjson refuses)."""
    return {str(name): value for name, value in row.items()}


def _page(conn: Connection, query: Select[Any], limit: int, offset: int) -> Page:
    total = conn.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = conn.execute(query.limit(limit).offset(offset)).mappings()
    return Page([_plain(row) for row in rows], int(total), limit, offset)


def keys_page(limit: int, offset: int) -> Work[Page]:
    """Newest first. The key itself is never stored, so only its hash and numbers are shown."""
    query = select(
        api_keys.c.id,
        api_keys.c.key_hash,
        api_keys.c.balance_msat,
        api_keys.c.reserved_msat,
        api_keys.c.created_at,
        api_keys.c.disabled_at,
    ).order_by(api_keys.c.id.desc())
    return lambda conn: _page(conn, query, limit, offset)


def key_row(key_id: int) -> Work[dict[str, Any] | None]:
    def work(conn: Connection) -> dict[str, Any] | None:
        query = select(api_keys.c.id, api_keys.c.balance_msat, api_keys.c.reserved_msat, api_keys.c.disabled_at).where(
            api_keys.c.id == key_id
        )
        row = conn.execute(query).mappings().first()
        return _plain(row) if row else None

    return work


def ledger_page(where: EntryFilter, limit: int, offset: int) -> Work[Page]:
    """Newest first, filtered by key, kind and time."""
    query = select(
        ledger_entries.c.id,
        ledger_entries.c.key_id,
        ledger_entries.c.kind,
        ledger_entries.c.amount_msat,
        ledger_entries.c.balance_after_msat,
        ledger_entries.c.request_id,
        ledger_entries.c.ref,
        ledger_entries.c.created_at,
    ).order_by(ledger_entries.c.id.desc())
    if where.key_id is not None:
        query = query.where(ledger_entries.c.key_id == where.key_id)
    if where.kind is not None:
        query = query.where(ledger_entries.c.kind == where.kind)
    if where.since is not None:
        query = query.where(ledger_entries.c.created_at >= where.since)
    return lambda conn: _page(conn, query, limit, offset)


def usage_by_model(since: int, bucket_s: int) -> Work[list[dict[str, Any]]]:
    """Charged requests and msat per model per time bucket, from the ledger's charge rows (their ref is the model).
    Requests that cost nothing write no charge row and are not counted; token counts are not kept in SQL."""
    bucket = (ledger_entries.c.created_at // bucket_s * bucket_s).label("bucket_start")
    query = (
        select(
            bucket,
            ledger_entries.c.ref.label("model"),
            func.count().label("requests"),
            (-func.sum(ledger_entries.c.amount_msat)).label("msat"),
        )
        .where(ledger_entries.c.kind == "charge", ledger_entries.c.created_at >= since)
        .group_by(bucket, ledger_entries.c.ref)
        .order_by(bucket, ledger_entries.c.ref)
    )

    def work(conn: Connection) -> list[dict[str, Any]]:
        return [_ints(_plain(row), "bucket_start", "requests", "msat") for row in conn.execute(query).mappings()]

    return work


def _ints(row: dict[str, Any], *names: str) -> dict[str, Any]:
    """Sums come back as Decimal on PostgreSQL: integers in JSON on both databases."""
    return {**row, **{name: int(row[name]) for name in names}}


def open_reservations(limit: int) -> Work[Page]:
    """Oldest first: the longest held is the one to look at."""
    query = select(
        reservations.c.request_id,
        reservations.c.key_id,
        reservations.c.amount_msat,
        reservations.c.created_at,
        reservations.c.owner,
    ).order_by(reservations.c.created_at, reservations.c.request_id)
    return lambda conn: _page(conn, query, limit, 0)


def owed() -> Work[dict[str, int]]:
    """What users are owed: the sum of balances, what is held for requests in flight, keys with money."""

    def work(conn: Connection) -> dict[str, int]:
        row = (
            conn.execute(
                select(
                    func.coalesce(func.sum(api_keys.c.balance_msat), 0).label("owed_msat"),
                    func.coalesce(func.sum(api_keys.c.reserved_msat), 0).label("reserved_msat"),
                    func.count().filter(api_keys.c.balance_msat > 0).label("keys_with_balance"),
                    func.count().label("keys"),
                )
            )
            .mappings()
            .one()
        )
        return {name: int(value) for name, value in row.items()}

    return work


def failed_operations(limit: int) -> Work[list[dict[str, Any]]]:
    """Mint operations that failed or were parked, newest first (the error is a code, never a token)."""
    query = (
        select(
            cashu_operations.c.id,
            cashu_operations.c.kind,
            cashu_operations.c.state,
            cashu_operations.c.mint_url,
            cashu_operations.c.amount_msat,
            cashu_operations.c.error,
            cashu_operations.c.updated_at,
        )
        .where(cashu_operations.c.state.in_(("failed", "parked")))
        .order_by(cashu_operations.c.updated_at.desc())
        .limit(limit)
    )
    return lambda conn: [_plain(row) for row in conn.execute(query).mappings()]
