"""`python -m app wallet report --verify`: the wallet journal checked against the mint's own word. Green on honest
books; each kind of difference the mint can reveal (a held proof spent, a credit for a token never redeemed, a refund
token that is not the mint's money, ecash the mint issued for an operation the node gave up on) turns it red."""

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import Connection, select, update

from app.cashu.client import MintClient
from app.cashu.outputs import proof_y
from app.cashu.tokens import Proof, Token, decode_token, encode_token_v4, normalize_mint_url
from app.cashu.wallet import execute_swap, plan_receive, receive_token
from app.db.database import Work, open_database
from app.db.tables import cashu_operations, wallet_proofs
from app.treasury.verify import MintVerification, verify_with_mints
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.fixtures.node_process import operator_command
from tests.fixtures.ports import free_port
from tests.payments.helpers import create, refund

T = TypeVar("T")
OPS = cashu_operations.c


def test_honest_books_verify_green_with_the_cli(
    node_factory: NodeFactory, mint: RunningMint, database_url: str, tmp_path: Path
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(21))).json()["api_key"]
    create(node, asyncio.run(mint.make_token(34)))
    assert refund(node, key).status_code == 200

    done = operator_command(database_url, tmp_path / "operator", "wallet", "report", "--verify")

    assert done.returncode == 0, done.stdout + done.stderr
    verified = json.loads(done.stdout)["verify"]
    # The deposits' tokens (3 + 2 proofs, spent at the mint), the refund's 32-sat input (spent), the held proofs with
    # its change (4 + 3, unspent) and the refund's token (3 proofs the mint signed).
    assert (verified["ok"], verified["operations_checked"], verified["proofs_checked"]) == (True, 3, 16)
    unanswered = verify(database_url, mint, reached_at=f"http://127.0.0.1:{free_port()}")  # the mint is down
    assert unanswered.differences and all("MintUnreachable" in d.problem for d in unanswered.differences)


def test_each_difference_with_the_mint_is_found(
    node_factory: NodeFactory, mint: RunningMint, database_url: str
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    key = create(node, asyncio.run(mint.make_token(21))).json()["api_key"]
    create(node, asyncio.run(mint.make_token(34)))
    assert refund(node, key).status_code == 200
    assert verify(database_url, mint).ok

    asyncio.run(spend_a_held_proof_behind_the_nodes_back(database_url, mint))
    never_redeemed = asyncio.run(mint.make_token(5))
    run(database_url, credit_for_a_token_never_redeemed(never_redeemed))
    run(database_url, refund_token_with_a_forged_signature(never_redeemed))
    lost = asyncio.run(outputs_the_mint_signed(mint, asyncio.run(mint.make_token(8))))
    run(database_url, failed_deposit_whose_swap_the_mint_did(mint.url, lost))
    verified = verify(database_url, mint)

    assert sorted({d.problem.split(" (")[0] for d in verified.differences}) == [
        "1 proofs carry no valid DLEQ of the mint: not proven to be its money",
        "credited, but the mint never spent the token",
        "failed deposit: the mint issued ecash for it to nobody, but the mint signed its outputs",
        "held by the node but spent at the mint",
    ]
    lost_sat = [d.amount_sat for d in verified.differences if d.subject == "deposit " + "f" * 32]
    assert lost_sat == [8]


async def spend_a_held_proof_behind_the_nodes_back(database_url: str, mint: RunningMint) -> None:
    def first_held(conn: Connection) -> Proof:
        row = conn.execute(select(wallet_proofs).where(wallet_proofs.c.state == "held")).first()
        assert row is not None
        return Proof(id=row.keyset_id, amount=row.amount, secret=row.secret, C=row.c)

    stolen = await run_async(database_url, first_held)
    async with httpx.AsyncClient() as http:
        await receive_token(MintClient(http, mint.url), Token(mint=mint.url, proofs=(stolen,)))


def credit_for_a_token_never_redeemed(token_text: str) -> Work[None]:
    ys = [proof_y(p) for p in decode_token(token_text).proofs]

    def work(conn: Connection) -> None:
        op = conn.execute(select(OPS.id, OPS.plan).where(OPS.kind == "deposit", OPS.amount_msat == 34_000)).one()
        plan = {**json.loads(op.plan), "input_ys": ys}
        conn.execute(update(cashu_operations).where(OPS.id == op.id).values(plan=json.dumps(plan)))

    return work


def refund_token_with_a_forged_signature(other_token: str) -> Work[None]:
    """The refund's token with its first proof's signature C replaced by another real one."""

    def work(conn: Connection) -> None:
        op = conn.execute(select(OPS.id, OPS.result).where(OPS.kind == "refund")).one()
        token = decode_token(op.result)
        forged = replace(token.proofs[0], C=decode_token(other_token).proofs[0].C)
        result = encode_token_v4(token.with_proofs([forged, *token.proofs[1:]]))
        conn.execute(update(cashu_operations).where(OPS.id == op.id).values(result=result))

    return work


async def outputs_the_mint_signed(mint: RunningMint, token_text: str) -> list[dict[str, Any]]:
    """A swap the mint did, of which only the blinded outputs are kept (no secrets, no blinding factors)."""
    async with httpx.AsyncClient() as http:
        client = MintClient(http, mint.url)
        plan = await plan_receive(client, decode_token(token_text))
        await execute_swap(client, plan)
    return [o.blinded_message.to_wire() for o in plan.outputs.outputs]


def failed_deposit_whose_swap_the_mint_did(mint_url: str, blinded_outputs: list[dict[str, Any]]) -> Work[None]:
    def work(conn: Connection) -> None:
        conn.execute(
            cashu_operations.insert().values(
                id="f" * 32, kind="deposit", purpose="create", state="failed", mint_url=normalize_mint_url(mint_url),
                token_hash="e" * 64, amount_msat=0, plan=json.dumps({"blinded_outputs": blinded_outputs}),
                error="already_spent", created_at=0, updated_at=0,
            )
        )  # fmt: skip

    return work


def verify(database_url: str, mint: RunningMint, reached_at: str | None = None) -> MintVerification:
    async def check() -> MintVerification:
        db = open_database(database_url)
        try:
            async with httpx.AsyncClient() as http:
                return await verify_with_mints(db, lambda url: MintClient(http, reached_at or url))
        finally:
            await db.close()

    return asyncio.run(check())


def run(database_url: str, work: Work[None]) -> None:
    asyncio.run(run_async(database_url, work))


async def run_async(database_url: str, work: Work[T]) -> T:
    db = open_database(database_url)
    try:
        return await db.run(work)
    finally:
        await db.close()
