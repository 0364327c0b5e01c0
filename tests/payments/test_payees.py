"""Tokens that travel in public events (a nutzap's proofs, a `cashu` tag of a plain DVM job) are deposited for a payee:
the first payee journaled for a token keeps it. Someone who copies the token into their own event is refused, also
when the first swap never reached the mint (the token is still unspent then) and also when they have an account."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from app.cashu.errors import MintUnreachable, TokenAlreadySpent
from app.payments.deposits import Purpose
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
            return credited, *(b.balance_msat for b in balances if b is not None)

    assert asyncio.run(run()) == (8000, 8000, 0)
