"""The wallet report: ecash held (assets) against what users are owed (liabilities), and whether they reconcile."""

from dataclasses import asdict, dataclass
from typing import Any

from app.money import sat_to_msat
from app.treasury.records import MintHoldings, OpKind, OpState
from app.treasury.service import Treasury


@dataclass(frozen=True, slots=True)
class WalletReport:
    mints: list[MintHoldings]
    assets_msat: int  # proofs held or promised to a refund in flight
    liabilities_msat: int  # sum of user balances
    deposited_msat: int
    refunded_msat: int
    pending_refunds_msat: int
    charged_msat: int
    granted_msat: int  # operator grants (keys create): owed to users but never backed by ecash
    open_operations: int
    parked_operations: list[str]  # "kind:id" of operations left unresolved after every retry: the operator's to settle
    withdrawn_msat: int = 0  # the operator's earnings taken out (`earnings withdraw`), mint fees included

    @property
    def reconciles(self) -> bool:
        """Every sat that came in as ecash and has not gone out is held: assets = deposits - refunds paid -
        earnings withdrawn."""
        paid_out = self.refunded_msat - self.pending_refunds_msat + self.withdrawn_msat
        return self.assets_msat == self.deposited_msat - paid_out

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "mints": [asdict(m) for m in self.mints], "reconciles": self.reconciles}


async def wallet_report(treasury: Treasury) -> WalletReport:
    holdings = await treasury.holdings()
    totals = await treasury.totals()
    open_ops = await treasury.open_operations()
    return WalletReport(
        mints=holdings,
        assets_msat=sat_to_msat(sum(h.held_sat + h.reserved_sat for h in holdings)),
        liabilities_msat=totals.balances_msat,
        deposited_msat=totals.deposited_msat,
        refunded_msat=totals.refunded_msat,
        pending_refunds_msat=sum(op.amount_msat for op in open_ops if op.kind is OpKind.REFUND),
        charged_msat=totals.charged_msat,
        granted_msat=totals.adjusted_msat,
        open_operations=len(open_ops),
        parked_operations=[f"{op.kind}:{op.id}" for op in open_ops if op.state is OpState.PARKED],
        withdrawn_msat=await treasury.withdrawn_msat(),
    )
