"""The proofs the node holds, in SQL: each `held`, `reserved` for an open operation, or `spent`. Kept when received,
promised to an operation before the mint is asked, and settled with the operation."""

from collections.abc import Sequence

from sqlalchemy import Connection, func, select, update

from app.db.database import Work
from app.db.tables import wallet_proofs
from app.treasury.errors import ProofsTaken
from app.treasury.records import HeldProof, MintHoldings, NewProof

HELD, RESERVED, SPENT = "held", "reserved", "spent"


def keep_proofs(conn: Connection, proofs: Sequence[NewProof], op_id: str, now: int) -> None:
    """Store proofs the mint gave the node (received, or change) as held, with the operation they came from."""
    if proofs:
        conn.execute(
            wallet_proofs.insert(),
            [
                {"mint_url": p.mint_url, "unit": p.unit, "keyset_id": p.keyset_id, "amount": p.amount,
                 "secret": p.secret, "c": p.c, "state": HELD, "operation_id": op_id, "created_at": now}
                for p in proofs
            ],
        )  # fmt: skip


def reserve_proofs(conn: Connection, proof_ids: Sequence[int], op_id: str) -> None:
    """Promise held proofs to an operation; ProofsTaken if a concurrent operation took any of them first."""
    taken = conn.execute(
        update(wallet_proofs)
        .where(wallet_proofs.c.id.in_(proof_ids), wallet_proofs.c.state == HELD)
        .values(state=RESERVED, operation_id=op_id)
    ).rowcount
    if taken != len(proof_ids):
        raise ProofsTaken(f"{len(proof_ids) - taken} of the chosen proofs were taken meanwhile")


def settle_reserved_proofs(conn: Connection, op_id: str, state: str) -> None:
    """The operation's promised proofs become `state`: spent (they stay the operation's), or held again (free)."""
    conn.execute(
        update(wallet_proofs)
        .where(wallet_proofs.c.operation_id == op_id, wallet_proofs.c.state == RESERVED)
        .values(state=state, operation_id=None if state == HELD else op_id)
    )


def held_proofs(conn: Connection, mint_url: str, unit: str, *, lock: bool = False) -> list[HeldProof]:
    """Proofs held for `mint_url`, largest first. With `lock`, locked until the transaction ends (PostgreSQL's FOR
    UPDATE, in one order so two refunds never deadlock; SQLite has one writer at a time): a concurrent refund waits
    for this one's short transaction and then sees what is left. Not SKIP LOCKED: a refund plans from every held
    proof, so skipping would find the wallet short while it is not."""
    query = (
        select(wallet_proofs)
        .where(wallet_proofs.c.mint_url == mint_url, wallet_proofs.c.unit == unit, wallet_proofs.c.state == HELD)
        .order_by(wallet_proofs.c.amount.desc(), wallet_proofs.c.id)
    )
    rows = conn.execute(query.with_for_update() if lock else query).all()
    return [HeldProof(r.mint_url, r.unit, r.keyset_id, r.amount, r.secret, r.c, id=r.id) for r in rows]


def holdings() -> Work[list[MintHoldings]]:
    def work(conn: Connection) -> list[MintHoldings]:
        rows = conn.execute(
            select(
                wallet_proofs.c.mint_url,
                wallet_proofs.c.unit,
                wallet_proofs.c.state,
                func.coalesce(func.sum(wallet_proofs.c.amount), 0),
                func.count(),
            )
            .where(wallet_proofs.c.state != SPENT)
            .group_by(wallet_proofs.c.mint_url, wallet_proofs.c.unit, wallet_proofs.c.state)
        ).all()
        by_mint: dict[tuple[str, str], dict[str, int]] = {}
        for mint_url, unit, state, total, count in rows:
            entry = by_mint.setdefault((mint_url, unit), {HELD: 0, RESERVED: 0, "proofs": 0})
            entry[state] += int(total)
            entry["proofs"] += int(count)
        return [MintHoldings(m, u, v[HELD], v[RESERVED], v["proofs"]) for (m, u), v in sorted(by_mint.items())]

    return work
