"""Proofs that the books add up. Each check finds one kind of corruption and says which key and row it touches:

- a balance that is not the sum of its key's ledger rows (money moved without a row, or a row without money);
- a reserved amount that is not the sum of the key's open reservations; a negative balance or available balance;
- a row whose sign contradicts its kind (a positive charge credits a key), or of no known kind;
- a row whose balance_after_msat is not the previous row's plus its amount (a row edited, removed or inserted);
- an operation that moved money more than once (two charges of one request, two deposits of one mint operation);
- a reversed refund that gives back other than what its refund took.
"""

from typing import Any

from sqlalchemy import Connection, Row, and_, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.db.database import Work
from app.db.tables import api_keys, ledger_entries, reservations, uncharged_usage
from app.ledger.records import EntryKind, LedgerEntry, Totals, Violation

entries = ledger_entries.c
_OPERATION_KINDS = (EntryKind.DEPOSIT, EntryKind.REFUND, EntryKind.REFUND_REVERSED)


def check_invariants() -> Work[list[Violation]]:
    def work(conn: Connection) -> list[Violation]:
        checks = (_balances, _signs, _chains, _repeated_operations, _repeated_charges, _reversals)
        return [violation for check in checks for violation in check(conn)]

    return work


def _balances(conn: Connection) -> list[Violation]:
    ledger_sum = (
        select(entries.key_id, func.sum(entries.amount_msat).label("total")).group_by(entries.key_id).subquery()
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
            func.coalesce(ledger_sum.c.total, 0).label("ledger_total"),
            func.coalesce(held_sum.c.total, 0).label("held_total"),
        )
        .outerjoin(ledger_sum, ledger_sum.c.key_id == api_keys.c.id)
        .outerjoin(held_sum, held_sum.c.key_id == api_keys.c.id)
    ).all()
    return [Violation(row.id, problem) for row in rows for problem in _balance_problems(row)]


def _balance_problems(row: Row[Any, Any, Any, Any, Any]) -> list[str]:
    balance, reserved = row.balance_msat, row.reserved_msat
    problems = []
    if balance != row.ledger_total:
        problems.append(f"balance {balance} msat != ledger sum {row.ledger_total} msat")
    if reserved != row.held_total:
        problems.append(f"reserved {reserved} msat != open reservations {row.held_total} msat")
    if balance < 0:
        problems.append(f"negative balance {balance} msat")
    if balance - reserved < 0:
        problems.append(f"negative available balance {balance - reserved} msat")
    return problems


def _wrong_sign() -> ColumnElement[bool]:
    known = entries.kind.in_([kind.value for kind in EntryKind])
    contradicted = [
        and_(entries.kind == kind.value, entries.amount_msat * kind.sign < 0) for kind in EntryKind if kind.sign
    ]
    return or_(~known, *contradicted)


def _signs(conn: Connection) -> list[Violation]:
    rows = conn.execute(select(entries.id, entries.key_id, entries.kind, entries.amount_msat).where(_wrong_sign()))
    return [
        Violation(r.key_id, f"ledger row {r.id}: {r.kind} of {r.amount_msat} msat has the wrong sign") for r in rows
    ]


def _chains(conn: Connection) -> list[Violation]:
    previous = func.lag(entries.balance_after_msat, 1, 0).over(partition_by=entries.key_id, order_by=entries.id)
    chained = select(
        entries.id, entries.key_id, entries.amount_msat, entries.balance_after_msat, previous.label("previous")
    ).subquery()
    rows = conn.execute(
        select(chained).where(chained.c.balance_after_msat != chained.c.previous + chained.c.amount_msat)
    )
    return [
        Violation(
            r.key_id,
            f"ledger row {r.id}: balance after {r.balance_after_msat} msat != {r.previous} + {r.amount_msat} msat",
        )
        for r in rows
    ]


def _repeated_operations(conn: Connection) -> list[Violation]:
    rows = conn.execute(
        select(func.min(entries.key_id).label("key_id"), entries.kind, entries.ref, func.count().label("times"))
        .where(entries.kind.in_([kind.value for kind in _OPERATION_KINDS]), entries.ref.is_not(None))
        .group_by(entries.kind, entries.ref)
        .having(func.count() > 1)
    )
    return [Violation(r.key_id, f"{r.kind} of operation {r.ref} written {r.times} times") for r in rows]


def _repeated_charges(conn: Connection) -> list[Violation]:
    rows = conn.execute(
        select(func.min(entries.key_id).label("key_id"), entries.request_id, func.count().label("times"))
        .where(entries.kind == EntryKind.CHARGE.value, entries.request_id.is_not(None))
        .group_by(entries.request_id)
        .having(func.count() > 1)
    )
    return [Violation(r.key_id, f"request {r.request_id} charged {r.times} times") for r in rows]


def _reversals(conn: Connection) -> list[Violation]:
    refunds = ledger_entries.alias("refunds")
    rows = conn.execute(
        select(entries.id, entries.key_id, entries.ref, entries.amount_msat)
        .outerjoin(
            refunds,
            and_(
                refunds.c.kind == EntryKind.REFUND.value,
                refunds.c.ref == entries.ref,
                refunds.c.key_id == entries.key_id,
                refunds.c.amount_msat == -entries.amount_msat,
            ),
        )
        .where(entries.kind == EntryKind.REFUND_REVERSED.value, refunds.c.id.is_(None))
    )
    return [
        Violation(r.key_id, f"ledger row {r.id}: reversal of {r.amount_msat} msat matches no refund of {r.ref}")
        for r in rows
    ]


def totals() -> Work[Totals]:
    def work(conn: Connection) -> Totals:
        by_kind = dict(conn.execute(select(entries.kind, func.sum(entries.amount_msat)).group_by(entries.kind)).all())
        balances, reserved = conn.execute(
            select(
                func.coalesce(func.sum(api_keys.c.balance_msat), 0),
                func.coalesce(func.sum(api_keys.c.reserved_msat), 0),
            )
        ).one()
        uncharged = conn.scalar(select(func.coalesce(func.sum(uncharged_usage.c.uncharged_msat), 0)))
        return Totals(
            deposited_msat=int(by_kind.get(EntryKind.DEPOSIT.value, 0)),
            charged_msat=-int(by_kind.get(EntryKind.CHARGE.value, 0)),
            refunded_msat=-int(by_kind.get(EntryKind.REFUND.value, 0))
            - int(by_kind.get(EntryKind.REFUND_REVERSED.value, 0)),
            adjusted_msat=int(by_kind.get(EntryKind.ADJUSTMENT.value, 0)),
            balances_msat=int(balances),
            reserved_msat=int(reserved),
            uncharged_msat=int(uncharged or 0),
        )

    return work


def entries_for(key_id: int) -> Work[list[LedgerEntry]]:
    def work(conn: Connection) -> list[LedgerEntry]:
        rows = conn.execute(select(ledger_entries).where(entries.key_id == key_id).order_by(entries.id)).all()
        return [
            LedgerEntry(r.id, r.key_id, EntryKind(r.kind), r.amount_msat, r.balance_after_msat, r.request_id, r.ref)
            for r in rows
        ]

    return work


def charged_for(request_id: str) -> Work[int]:
    """What the ledger charged for one request (0: nothing yet)."""

    def work(conn: Connection) -> int:
        charged = select(func.coalesce(func.sum(entries.amount_msat), 0)).where(
            entries.request_id == request_id, entries.kind == EntryKind.CHARGE.value
        )
        return -int(conn.execute(charged).scalar_one())

    return work
