"""Refunds in SQL: the key debited and the wallet's proofs promised to the refund in one transaction, before the mint
is asked; then the refund completed (paid as a token or over Lightning) or undone (the key credited back)."""

from collections.abc import Callable, Sequence

from sqlalchemy import Connection, select

from app.db.database import Work
from app.db.tables import api_keys, cashu_operations, ledger_entries
from app.errors import RequestsInFlight
from app.ledger.accounts import credit_in, debit_out, find_by_id
from app.ledger.records import Account, EntryKind
from app.money import msat_to_sat_floor
from app.treasury.errors import RefundInProgress
from app.treasury.journal import OPEN_STATE_VALUES, required_operation, update_if_open
from app.treasury.proofs import HELD, SPENT, held_proofs, keep_proofs, reserve_proofs, settle_reserved_proofs
from app.treasury.records import HeldProof, NewProof, OpKind, OpState, RefundPlan


def begin_refund(
    *,
    op_id: str,
    key_id: int,
    mint_url: str,
    unit: str,
    now: int,
    plan: Callable[[list[HeldProof], int], RefundPlan],
    while_in_flight: bool = False,
    purpose: str = "refund",
) -> Work[RefundPlan | None]:
    """Debit the key's whole available balance in whole sats, promise proofs of `mint_url` to the refund and journal
    its plan, in one transaction. `plan(held_proofs, available_sat)` decides (pure). None if nothing to refund.
    RequestsInFlight while the key holds reservations, unless `while_in_flight` (then what they hold stays)."""

    def work(conn: Connection) -> RefundPlan | None:
        account = _locked_account(conn, key_id)
        if account is not None and account.reserved_msat > 0 and not while_in_flight:
            raise RequestsInFlight()
        if account is None or account.available_msat < 1000:
            return None
        if _open_refund_of(conn, key_id):
            raise RefundInProgress()
        decided = plan(held_proofs(conn, mint_url, unit, lock=True), msat_to_sat_floor(account.available_msat))
        reserve_proofs(conn, decided.proof_ids, op_id)
        debit_out(conn, key_id, decided.debit_msat, EntryKind.REFUND, now, ref=op_id)
        conn.execute(
            cashu_operations.insert().values(
                id=op_id, kind=OpKind.REFUND.value, purpose=purpose, state=OpState.PLANNED.value, mint_url=mint_url,
                key_id=key_id, amount_msat=decided.debit_msat, plan=decided.plan_json, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        return decided

    return work


def _locked_account(conn: Connection, key_id: int) -> Account | None:
    """The key as it is now, locked until the transaction ends (PostgreSQL; SQLite's writer is one at a time), so
    that the available balance cannot change between reading it and debiting it (no reservation slips in)."""
    conn.execute(select(api_keys.c.id).where(api_keys.c.id == key_id).with_for_update())
    return find_by_id(key_id)(conn)


def _open_refund_of(conn: Connection, key_id: int) -> bool:
    found = conn.execute(
        select(cashu_operations.c.id).where(
            cashu_operations.c.key_id == key_id,
            cashu_operations.c.kind == OpKind.REFUND.value,
            cashu_operations.c.state.in_(OPEN_STATE_VALUES),
        )
    ).first()
    return found is not None


def complete_refund(
    op_id: str, change: Sequence[NewProof], token: str, scrubbed_plan: str, now: int
) -> Work[str | None]:
    """The swap happened: the promised proofs are spent, the change is ours, the token is kept for re-fetching."""

    def work(conn: Connection) -> str | None:
        if not update_if_open(conn, op_id, now, state=OpState.COMPLETED.value, result=token, plan=scrubbed_plan):
            return required_operation(conn, op_id).result
        settle_reserved_proofs(conn, op_id, SPENT)
        keep_proofs(conn, change, op_id, now)
        return token

    return work


def complete_lightning_refund(
    op_id: str, change: Sequence[NewProof], returned_msat: int, result: str, plan_json: str, now: int
) -> Work[bool]:
    """A refund paid over Lightning (a melt): the promised proofs are spent, the fee change is ours, and what the
    payment did not use of the debit (the unused fee reserve) goes back to the key. False if already settled."""

    def work(conn: Connection) -> bool:
        if not update_if_open(conn, op_id, now, state=OpState.COMPLETED.value, result=result, plan=plan_json):
            return False
        op = required_operation(conn, op_id)
        assert op.key_id is not None and 0 <= returned_msat <= op.amount_msat, op_id
        settle_reserved_proofs(conn, op_id, SPENT)
        keep_proofs(conn, change, op_id, now)
        if returned_msat:  # the debit is reversed whole and what the payment cost debited (ledger check pairs them)
            credit_in(conn, op.key_id, op.amount_msat, EntryKind.REFUND_REVERSED, now, ref=op_id)
            debit_out(conn, op.key_id, op.amount_msat - returned_msat, EntryKind.REFUND, now, ref=f"{op_id}/paid")
        return True

    return work


def undo_refund(op_id: str, error: str, now: int, *, inputs_spent: bool = False) -> Work[bool]:
    """The refund cannot happen: give the key its money back, and the proofs back to the wallet (or, when the mint
    says something else spent them, write them off: the wallet report then shows the loss)."""

    def work(conn: Connection) -> bool:
        if not update_if_open(conn, op_id, now, state=OpState.FAILED.value, error=error):
            return False
        op = required_operation(conn, op_id)
        assert op.key_id is not None, op_id
        settle_reserved_proofs(conn, op_id, SPENT if inputs_spent else HELD)
        credit_in(conn, op.key_id, op.amount_msat, EntryKind.REFUND_REVERSED, now, ref=op_id)
        return True

    return work


def latest_refund_token(key_id: int) -> Work[str | None]:
    """The token of the key's last paid refund: ordered by the refund's debit in the ledger (a monotonic row id),
    not by a clock, so two refunds in one second never swap places."""

    def work(conn: Connection) -> str | None:
        row = conn.execute(
            select(cashu_operations.c.result)
            .join(ledger_entries, ledger_entries.c.ref == cashu_operations.c.id)
            .where(
                cashu_operations.c.key_id == key_id,
                cashu_operations.c.kind == OpKind.REFUND.value,
                cashu_operations.c.state == OpState.COMPLETED.value,
                cashu_operations.c.purpose == "refund",  # not a payment to a Lightning address: no token
                ledger_entries.c.kind == EntryKind.REFUND.value,
            )
            .order_by(ledger_entries.c.id.desc())
        ).first()
        return None if row is None else row[0]

    return work
