"""A deposit settled in SQL: the received proofs kept and their value credited to the key, in one transaction."""

from collections.abc import Sequence

from sqlalchemy import Connection, update

from app.db.database import Work
from app.db.tables import cashu_operations
from app.ledger.accounts import credit_in, find_by_hash, find_by_id, insert_account
from app.ledger.records import Account, EntryKind
from app.money import sat_to_msat
from app.treasury.journal import required_operation, update_if_open
from app.treasury.proofs import keep_proofs
from app.treasury.records import NewProof, Operation, OpState


def complete_deposit(op_id: str, proofs: Sequence[NewProof], scrubbed_plan: str, now: int) -> Work[Account | None]:
    """Keep the received proofs and credit their value to the operation's key, once. None if already settled."""

    def work(conn: Connection) -> Account | None:
        amount_msat = sat_to_msat(sum(p.amount for p in proofs))
        completed = {"state": OpState.COMPLETED.value, "amount_msat": amount_msat, "plan": scrubbed_plan}
        if not update_if_open(conn, op_id, now, **completed):
            return None
        key_id = _account_for(conn, required_operation(conn, op_id), now)
        conn.execute(update(cashu_operations).where(cashu_operations.c.id == op_id).values(key_id=key_id))
        keep_proofs(conn, proofs, op_id, now)
        credit_in(conn, key_id, amount_msat, EntryKind.DEPOSIT, now, ref=op_id)
        return find_by_id(key_id)(conn)

    return work


def _account_for(conn: Connection, op: Operation, now: int) -> int:
    if op.key_id is not None:
        return op.key_id
    assert op.target_key_hash is not None
    existing = find_by_hash(op.target_key_hash)(conn)
    return existing.id if existing else insert_account(conn, op.target_key_hash, now)
