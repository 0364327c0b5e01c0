"""The ledger as the rest of the node sees it: async calls, each one SQL transaction, returning dataclasses."""

import time
from collections.abc import Callable

from app.db.database import Database, PostgresDatabase
from app.ledger import accounts, audit, metering
from app.ledger.keys import hash_key, new_api_key
from app.ledger.records import Account, EntryKind, LedgerEntry, Reservation, Settlement, Totals, Violation

Clock = Callable[[], float]


class Ledger:
    def __init__(self, db: Database, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock
        self._pg = db if isinstance(db, PostgresDatabase) else None

    def _now(self) -> int:
        return int(self._clock())

    async def create_key(self, balance_msat: int, *, kind: EntryKind = EntryKind.ADJUSTMENT) -> tuple[str, Account]:
        """A new random key with an opening balance (operator grant). The key is returned once, never stored."""
        key = new_api_key()
        account = await self._db.run(accounts.create_account(hash_key(key), balance_msat, self._now(), kind, None))
        return key, account

    async def find(self, key: str) -> Account | None:
        return await self._db.run(accounts.find_by_hash(hash_key(key)))

    async def find_by_hash(self, key_hash: str) -> Account | None:
        return await self._db.run(accounts.find_by_hash(key_hash))

    async def find_by_id(self, key_id: int) -> Account | None:
        return await self._db.run(accounts.find_by_id(key_id))

    async def reserve(self, key_hash: str, amount_msat: int, request_id: str) -> Reservation:
        if self._pg is not None:
            return await metering.reserve_pg(self._pg, key_hash, amount_msat, request_id, self._now())
        return await self._db.run(metering.reserve(key_hash, amount_msat, request_id, self._now()), metering=True)

    async def settle(self, request_id: str, cost_msat: int, ref: str | None = None) -> Settlement | None:
        if self._pg is not None:
            return await metering.settle_pg(self._pg, request_id, cost_msat, self._now(), ref)
        return await self._db.run(metering.settle(request_id, cost_msat, self._now(), ref), metering=True)

    async def release(self, request_id: str) -> bool:
        if self._pg is not None:
            return await metering.release_pg(self._pg, request_id, self._now())
        return await self._db.run(metering.release(request_id), metering=True)

    async def credit(self, key_id: int, amount_msat: int, kind: EntryKind, ref: str | None = None) -> int:
        return await self._db.run(accounts.credit(key_id, amount_msat, kind, self._now(), ref))

    async def check(self) -> list[Violation]:
        return await self._db.run(audit.check_invariants())

    async def totals(self) -> Totals:
        return await self._db.run(audit.totals())

    async def entries(self, key_id: int) -> list[LedgerEntry]:
        return await self._db.run(audit.entries_for(key_id))

    async def release_stale(self, max_age_s: int) -> int:
        return await self._db.run(audit.release_stale(self._now() - max_age_s))
