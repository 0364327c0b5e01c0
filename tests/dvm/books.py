"""How every DVM money test ends: the ledger invariant for every key, and the mints' own word on the journal."""

from app.treasury.report import WalletReport
from tests.fixtures.node import RunningNode
from tests.payments.helpers import books, verified


def audited(node: RunningNode) -> WalletReport:
    """The wallet report, once the books reconcile and every mint agrees with the node's journal."""
    report = books(node)
    assert report.reconciles, report
    check = verified(node)
    assert check.ok, check.differences
    return report
