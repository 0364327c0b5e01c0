"""How every DVM money test ends: the ledger invariant for every key, and the mints' own word on the journal."""

import asyncio

from app.db.database import open_database
from app.treasury.report import WalletReport
from tests.fixtures.node import RunningNode
from tests.treasury.stacks import books


def audited_at(database_url: str) -> WalletReport:
    """The wallet report, once the books reconcile and every mint agrees with the node's journal."""

    async def audit() -> WalletReport:
        db = open_database(database_url)
        try:
            return await books(db)
        finally:
            await db.close()

    report = asyncio.run(audit())
    assert report.reconciles, report
    return report


def audited(node: RunningNode) -> WalletReport:
    return audited_at(node.settings.database_url)
