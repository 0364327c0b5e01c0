"""The operator's use cases: keys (create with a grant, top up, disable), the books and usage, and what the node's
wallet holds against what it owes. Every money move goes through the ledger (one transaction, one ledger row)."""

import time
from collections.abc import Callable
from typing import Any

from app.admin import reports, store
from app.admin.auth import AdminAuth
from app.admin.recent import RecentErrors
from app.admin.reports import EntryFilter, Page
from app.db.database import Database
from app.errors import BadRequest, NotFound
from app.ledger.records import EntryKind
from app.ledger.service import Ledger
from app.money import sat_to_msat
from app.treasury.report import wallet_report
from app.treasury.service import Treasury

TOPUP_REF = "admin:topup"
MAX_GRANT_MSAT = sat_to_msat(21_000_000 * 100_000_000)


class Admin:
    def __init__(
        self, db: Database, ledger: Ledger, auth: AdminAuth, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._db = db
        self._ledger = ledger
        self._treasury = Treasury(db)
        self.auth = auth
        self.recent_errors = RecentErrors()
        self._clock = clock
        self.started_at = clock()

    def uptime_s(self) -> int:
        return int(self._clock() - self.started_at)

    async def keys(self, limit: int, offset: int) -> Page:
        return await self._db.run(reports.keys_page(limit, offset))

    async def create_key(self, balance_msat: int) -> tuple[str, dict[str, Any]]:
        """A new key with an operator grant (an `adjustment` ledger row); the key is returned once."""
        _grant(balance_msat, allow_zero=True)
        key, account = await self._ledger.create_key(balance_msat)
        return key, await self._key(account.id)

    async def top_up(self, key_id: int, amount_msat: int) -> dict[str, Any]:
        _grant(amount_msat, allow_zero=False)
        await self._key(key_id)
        await self._ledger.credit(key_id, amount_msat, EntryKind.ADJUSTMENT, ref=TOPUP_REF)
        return await self._key(key_id)

    async def set_disabled(self, key_id: int, disabled: bool) -> dict[str, Any]:
        at = int(self._clock()) if disabled else None
        if not await self._db.run(store.set_disabled(key_id, at)):
            raise NotFound(f"no key with id {key_id}")
        return await self._key(key_id)

    async def _key(self, key_id: int) -> dict[str, Any]:
        row = await self._db.run(reports.key_row(key_id))
        if row is None:
            raise NotFound(f"no key with id {key_id}")
        return row

    async def ledger(self, where: EntryFilter, limit: int, offset: int) -> Page:
        return await self._db.run(reports.ledger_page(where, limit, offset))

    async def usage(self, since: int, bucket_s: int) -> list[dict[str, Any]]:
        return await self._db.run(reports.usage_by_model(since, bucket_s))

    async def reservations(self, limit: int) -> Page:
        return await self._db.run(reports.open_reservations(limit))

    async def owed(self) -> dict[str, int]:
        return await self._db.run(reports.owed())

    async def earnings(self) -> dict[str, Any]:
        """Per mint what the wallet holds, against what users are owed (balances are per key, not per mint)."""
        report = await wallet_report(self._treasury)
        return {
            "mints": [
                {
                    "mint_url": m.mint_url,
                    "unit": m.unit,
                    "held_msat": sat_to_msat(m.held_sat),
                    "in_flight_msat": sat_to_msat(m.reserved_sat),  # promised to refunds in flight
                }
                for m in report.mints
            ],
            "held_msat": report.assets_msat,
            "owed_msat": report.liabilities_msat,
            "earnings_msat": report.assets_msat - report.liabilities_msat,
            "granted_msat": report.granted_msat,
            "reconciles": report.reconciles,
            "open_operations": report.open_operations,
            "parked_operations": report.parked_operations,
        }

    async def errors(self, limit: int) -> dict[str, Any]:
        return {
            "responses": self.recent_errors.latest(limit),
            "mint_operations": await self._db.run(reports.failed_operations(limit)),
        }


def _grant(amount_msat: int, *, allow_zero: bool) -> None:
    if amount_msat < 0 or (amount_msat == 0 and not allow_zero) or amount_msat > MAX_GRANT_MSAT:
        raise BadRequest("the amount must be a positive number of msat", param="amount_msat")
