"""NIP-90 jobs in SQL: which job events were taken (a job runs once, however often relays deliver it) and the
account of each Nostr customer, keyed by its pubkey."""

import hashlib
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Table, update
from sqlalchemy.dialects import postgresql, sqlite

from app.db.database import Database
from app.db.tables import api_keys, dvm_jobs
from app.ledger.accounts import find_by_hash
from app.ledger.records import Account

Clock = Callable[[], float]

# A customer's key hash is not a sha256 hex digest (hash_key's output is 64 hex digits), so no API key presented
# over HTTP can ever reach a Nostr customer's balance.
_CUSTOMER_PREFIX = "npub:"


def customer_key_hash(pubkey: str) -> str:
    """The account of the Nostr key `pubkey` (64 hex), 64 characters as the key_hash column holds."""
    digest = hashlib.sha256(bytes.fromhex(pubkey)).hexdigest()
    return _CUSTOMER_PREFIX + digest[: 64 - len(_CUSTOMER_PREFIX)]


def _insert_new(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert the row unless its key exists; True when it was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing()
    return conn.execute(statement.returning(*table.primary_key.columns)).first() is not None


class DvmJobs:
    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    async def take(self, event_id: str, pubkey: str) -> bool:
        """Claim a job event; False when it was taken before (by this process or another)."""
        now = int(self._clock())

        def work(conn: Connection) -> bool:
            values = {"event_id": event_id, "pubkey": pubkey, "state": "taken", "created_at": now, "updated_at": now}
            return _insert_new(conn, dvm_jobs, values)

        return await self._db.run(work)

    async def finish(self, event_id: str, state: str, cost_msat: int | None = None) -> None:
        now = int(self._clock())

        def work(conn: Connection) -> None:
            values = {"state": state, "cost_msat": cost_msat, "updated_at": now}
            conn.execute(update(dvm_jobs).where(dvm_jobs.c.event_id == event_id).values(**values))

        await self._db.run(work)

    async def customer(self, pubkey: str) -> Account:
        """The customer's account, opened empty on first use (money arrives through deposits)."""
        key_hash = customer_key_hash(pubkey)
        now = int(self._clock())

        def work(conn: Connection) -> Account:
            values = {"key_hash": key_hash, "balance_msat": 0, "reserved_msat": 0, "created_at": now}
            _insert_new(conn, api_keys, values)
            account = find_by_hash(key_hash)(conn)
            assert account is not None
            return account

        return await self._db.run(work)
