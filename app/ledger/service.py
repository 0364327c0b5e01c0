"""The ledger as the rest of the node sees it: async calls, each one SQL transaction, returning dataclasses."""

import logging
import time
from collections.abc import Callable

from app.db.database import Database
from app.db.leases import Leases
from app.errors import InsufficientBalance, NodeError, Unauthorized
from app.ledger import accounts, audit, metering
from app.ledger.keys import hash_key, new_api_key
from app.ledger.meter_rules import REFUSED
from app.ledger.records import Account, EntryKind, LedgerEntry, Reservation, Settlement, Totals, Violation

Clock = Callable[[], float]

log = logging.getLogger(__name__)


class Ledger:
    """`leases` is this process's: its boot id owns the reservations it makes, and tells which other processes
    died with reservations open. Without it (operator commands, tests) reservations have no owner and only the
    age limit releases them."""

    def __init__(self, db: Database, clock: Clock = time.time, *, leases: Leases | None = None) -> None:
        self._db = db
        self._clock = clock
        self._meter = metering.meter_for(db)
        self._leases = leases

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
        """Hold `amount_msat` of the key's available balance: 401 for an unknown key, 402 when short."""
        if amount_msat <= metering.ALL_BITCOIN_MSAT:
            owner = self._leases.owner if self._leases else None
            outcome = await metering.reserve(self._meter, key_hash, amount_msat, request_id, owner, self._now())
            if outcome.status != REFUSED:
                return metering.reservation(outcome, request_id, amount_msat)
        raise await self._refusal(key_hash, amount_msat)

    async def _refusal(self, key_hash: str, amount_msat: int) -> NodeError:
        account = await self.find_by_hash(key_hash)
        if account is None:
            return Unauthorized()
        if await self._db.run(accounts.is_disabled(account.id)):
            return Unauthorized("this API key was disabled by the node's operator")
        return InsufficientBalance(
            f"insufficient balance: this request needs up to {amount_msat} msat,"
            f" {account.available_msat} msat available",
            needed_msat=amount_msat,
            available_msat=account.available_msat,
        )

    async def settle(self, request_id: str, cost_msat: int, ref: str | None = None) -> Settlement | None:
        """Charge the actual cost, at most the reservation, and release the rest, exactly once (None if the
        reservation was already settled or released)."""
        return await metering.settle(self._meter, request_id, cost_msat, self._now(), ref)

    async def release(self, request_id: str) -> bool:
        """Give a reservation back untouched (the upstream failed before any output). False if already settled."""
        return await metering.release(self._meter, request_id)

    async def release_stale(self, max_age_s: int) -> int:
        """Last resort: release reservations older than `max_age_s`, whoever holds them."""
        stale = await self._db.run(metering.created_before(self._now() - max_age_s))
        released = await metering.release_all(self._meter, stale)
        if released:
            log.warning("metering.stale_released count=%d max_age_s=%d", released, max_age_s)
        return released

    async def release_orphaned(self) -> int:
        """Release the reservations of processes that died (their liveness lease expired); never a live one's."""
        if self._leases is None:
            return 0
        dead = [owner for owner in await self._db.run(metering.owners()) if not await self._leases.is_alive(owner)]
        if not dead:
            return 0
        released = await metering.release_all(self._meter, await self._db.run(metering.owned_by(dead)))
        log.warning("metering.orphans_released count=%d processes=%s", released, ",".join(dead))
        return released

    async def credit(self, key_id: int, amount_msat: int, kind: EntryKind, ref: str | None = None) -> int:
        return await self._db.run(accounts.credit(key_id, amount_msat, kind, self._now(), ref))

    async def check(self) -> list[Violation]:
        return await self._db.run(audit.check_invariants())

    async def totals(self) -> Totals:
        return await self._db.run(audit.totals())

    async def entries(self, key_id: int) -> list[LedgerEntry]:
        return await self._db.run(audit.entries_for(key_id))

    async def charged_msat(self, request_id: str) -> int:
        return await self._db.run(audit.charged_for(request_id))
