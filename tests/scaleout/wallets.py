"""The users' own wallets: ecash minted for them is what they put in; what comes back (refund and change tokens, and
their own tokens the nodes never redeemed) is counted only once the mint has swapped it into fresh proofs of theirs.
So a test's sums are the users' word, not the node's."""

import asyncio
from dataclasses import dataclass, field

import httpx

from app.cashu.client import MintClient
from app.cashu.errors import TokenAlreadySpent
from app.cashu.tokens import decode_token
from app.cashu.wallet import receive_token
from tests.fixtures.mint import RunningMint


@dataclass
class UserWallets:
    """All users' wallets at one fee-free mint, counted together: in (minted) and back (received), in sat."""

    mint: RunningMint
    minted_sat: int = 0
    received_sat: int = 0
    unspendable: list[str] = field(default_factory=list)  # tokens handed back that the mint refused

    def new_token(self, amount_sat: int, *, proofs: int | None = None) -> str:
        self.minted_sat += amount_sat
        return asyncio.run(self.mint.make_token(amount_sat, proofs=proofs))

    def receive(self, tokens: list[str]) -> None:
        """Swap each token into fresh proofs (the proof that it is good money); refused ones are kept aside."""
        asyncio.run(self._receive_all(tokens))

    def reclaim(self, token_text: str) -> bool:
        """Take back a token of the user's own that no node credited. False if the mint says it is spent."""
        before = len(self.unspendable)
        self.receive([token_text])
        if len(self.unspendable) > before:
            self.unspendable.pop()
            return False
        return True

    async def _receive_all(self, tokens: list[str]) -> None:
        async with httpx.AsyncClient() as http:
            client = MintClient(http, self.mint.url)
            for text in tokens:
                try:
                    self.received_sat += sum(p.amount for p in await receive_token(client, decode_token(text)))
                except TokenAlreadySpent:
                    self.unspendable.append(text)
