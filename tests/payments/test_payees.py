"""Tokens that travel in public events (a nutzap's proofs, a `cashu` tag of a plain DVM job) are deposited for a payee:
the first payee journaled for a token keeps it. Someone who copies the token into their own event is refused, also
when the first swap never reached the mint (the token is still unspent then) and also when they have an account."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.errors import MintUnreachable, TokenAlreadySpent
from app.db.database import open_database
from app.ledger.service import Ledger
from app.payments.deposits import Purpose
from app.treasury.records import OpKind
from app.treasury.service import Treasury
from app.treasury.verify import verify_with_mints
from tests.fixtures.mint import RunningMint
from tests.payments.crash_harness import process
from tests.treasury.stacks import Intercepting


@dataclass
class Payee:
    """An account that exists from the start (`key_id`), or is opened on the first call to `open`."""

    key_id: int | None
    opened: int | None = None

    async def find(self) -> int | None:
        return self.key_id

    async def open(self) -> int:
        assert self.opened is not None
        self.key_id = self.opened
        return self.opened


def test_a_public_token_stays_with_the_first_payee_journaled_for_it(database_url: str, mint: RunningMint) -> None:
    mint_down = True

    async def swap(
        request: httpx.Request, forward: Callable[[httpx.Request], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        if mint_down:
            raise httpx.ConnectError("connection refused", request=request)
        return await forward(request)

    async def run() -> tuple[int, ...]:
        nonlocal mint_down
        token = await mint.make_token(8)
        async with process(database_url, mint.url, Intercepting(swap)) as node:
            _, sender_account = await node.ledger.create_key(0)
            _, thief_account = await node.ledger.create_key(0)
            sender, thief = Payee(None, opened=sender_account.id), Payee(thief_account.id)
            stranger = Payee(None, opened=-1)  # must never be opened

            with pytest.raises(MintUnreachable):  # the sender's swap never reaches the mint: the token is unspent
                await node.deposits.deposit(token, Purpose.TOPUP, payee=sender)
            mint_down = False
            for copier in (thief, stranger):
                with pytest.raises(TokenAlreadySpent):
                    await node.deposits.deposit(token, Purpose.TOPUP, payee=copier)
            credited = (await node.deposits.deposit(token, Purpose.TOPUP, payee=sender)).credited_msat
            balances = [(await node.ledger.find_by_id(a.id)) for a in (sender_account, thief_account)]
            assert stranger.key_id is None
            async with httpx.AsyncClient() as http:  # the journal and the books against the mint's own word
                audit = await verify_with_mints(node.db, lambda url: MintClient(http, url))
            assert audit.ok and audit.proofs_checked > 0, audit
            assert await node.ledger.check() == []
            return credited, *(b.balance_msat for b in balances if b is not None)

    assert asyncio.run(run()) == (8000, 8000, 0)


def test_the_journal_hands_a_never_sent_deposit_to_another_key_only_when_the_destination_may_change(
    database_url: str,
) -> None:
    """The payee check above reads the journal before it writes; two deliveries at the same moment pass it together.
    The journal itself then decides, in one transaction: a deposit that never reached the mint is planned again for
    another key only when its destination may change (a bearer token presented by whoever holds it)."""

    async def run() -> list[bool]:
        db = open_database(database_url)
        treasury = Treasury(db)
        try:
            (_, first), (_, second) = [await Ledger(db).create_key(0) for _ in range(2)]
            begun = []
            for op_id, key_id, keep in (
                ("a" * 32, first.id, True),
                ("b" * 32, second.id, True),
                ("c" * 32, second.id, False),
            ):
                op = await treasury.begin(op_id=op_id, kind=OpKind.DEPOSIT, purpose="topup", mint_url="http://m",
                                          plan_json="{}", token_hash="t" * 64, key_id=key_id,
                                          keep_destination=keep)  # fmt: skip
                begun.append((op.id, op.key_id))
                if op.id == op_id:
                    await treasury.fail(op_id, "not_executed")  # it never reached the mint
            first_sent, refused, replaced = begun
            return [first_sent == refused == ("a" * 32, first.id), replaced == ("c" * 32, second.id)]
        finally:
            await db.close()

    assert asyncio.run(run()) == [True, True]
