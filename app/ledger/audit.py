"""Proofs that the books add up, and clean-up of reservations left behind by a crash."""

from sqlalchemy import Connection, func, select, update

from app.db.database import Work
from app.db.tables import api_keys, ledger_entries, reservations
from app.ledger.records import EntryKind, LedgerEntry, Totals, Violation


def check_invariants() -> Work[list[Violation]]:
    """For every key: balance = sum of its ledger rows, reserved = sum of its open reservations, and neither the
    balance nor the available balance is negative."""

    def work(conn: Connection) -> list[Violation]:
        ledger_sum = (
            select(ledger_entries.c.key_id, func.sum(ledger_entries.c.amount_msat).label("total"))
            .group_by(ledger_entries.c.key_id)
            .subquery()
        )
        held_sum = (
            select(reservations.c.key_id, func.sum(reservations.c.amount_msat).label("total"))
            .group_by(reservations.c.key_id)
            .subquery()
        )
        rows = conn.execute(
            select(
                api_keys.c.id,
                api_keys.c.balance_msat,
                api_keys.c.reserved_msat,
                func.coalesce(ledger_sum.c.total, 0),
                func.coalesce(held_sum.c.total, 0),
            )
            .outerjoin(ledger_sum, ledger_sum.c.key_id == api_keys.c.id)
            .outerjoin(held_sum, held_sum.c.key_id == api_keys.c.id)
        ).all()
        violations: list[Violation] = []
        for key_id, balance, reserved, ledger_total, held_total in rows:
            violations.extend(Violation(key_id, p) for p in _problems(balance, reserved, ledger_total, held_total))
        return violations

    return work


def _problems(balance: int, reserved: int, ledger_total: int, held_total: int) -> list[str]:
    problems = []
    if balance != ledger_total:
        problems.append(f"balance {balance} msat != ledger sum {ledger_total} msat")
    if reserved != held_total:
        problems.append(f"reserved {reserved} msat != open reservations {held_total} msat")
    if balance < 0:
        problems.append(f"negative balance {balance} msat")
    if balance - reserved < 0:
        problems.append(f"negative available balance {balance - reserved} msat")
    return problems


def totals() -> Work[Totals]:
    def work(conn: Connection) -> Totals:
        by_kind = dict(
            conn.execute(
                select(ledger_entries.c.kind, func.sum(ledger_entries.c.amount_msat)).group_by(ledger_entries.c.kind)
            ).all()
        )
        balances, reserved = conn.execute(
            select(
                func.coalesce(func.sum(api_keys.c.balance_msat), 0),
                func.coalesce(func.sum(api_keys.c.reserved_msat), 0),
            )
        ).one()
        return Totals(
            deposited_msat=int(by_kind.get(EntryKind.DEPOSIT.value, 0)),
            charged_msat=-int(by_kind.get(EntryKind.CHARGE.value, 0)),
            refunded_msat=-int(by_kind.get(EntryKind.REFUND.value, 0))
            - int(by_kind.get(EntryKind.REFUND_REVERSED.value, 0)),
            adjusted_msat=int(by_kind.get(EntryKind.ADJUSTMENT.value, 0)),
            balances_msat=int(balances),
            reserved_msat=int(reserved),
        )

    return work


def entries_for(key_id: int) -> Work[list[LedgerEntry]]:
    def work(conn: Connection) -> list[LedgerEntry]:
        rows = conn.execute(
            select(ledger_entries).where(ledger_entries.c.key_id == key_id).order_by(ledger_entries.c.id)
        ).all()
        return [
            LedgerEntry(r.id, r.key_id, EntryKind(r.kind), r.amount_msat, r.balance_after_msat, r.request_id, r.ref)
            for r in rows
        ]

    return work


def release_stale(created_before: int) -> Work[int]:
    """Release reservations older than a cut-off: left behind by a process that died mid-request."""

    def work(conn: Connection) -> int:
        stale = conn.execute(
            select(reservations.c.request_id, reservations.c.key_id, reservations.c.amount_msat).where(
                reservations.c.created_at < created_before
            )
        ).all()
        for request_id, key_id, amount in stale:
            conn.execute(reservations.delete().where(reservations.c.request_id == request_id))
            conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(reserved_msat=api_keys.c.reserved_msat - amount)
            )
        return len(stale)

    return work
