"""The mints this node trusts, each behind one MintClient on the process's shared HTTP client."""

from collections.abc import Sequence

import httpx

from app.cashu.client import MintClient
from app.cashu.errors import UntrustedMint
from app.cashu.tokens import normalize_mint_url


class TrustedMints:
    def __init__(self, http: httpx.AsyncClient, urls: Sequence[str], *, timeout_s: float = 15.0) -> None:
        self._http = http
        self._timeout_s = timeout_s
        self._clients = {normalize_mint_url(url): MintClient(http, url, timeout_s=timeout_s) for url in urls}
        self.urls = [client.url for client in self._clients.values()]

    def client_for(self, mint_url: str) -> MintClient:
        """The client of a trusted mint; UntrustedMint (nothing moves) for any other."""
        client = self._clients.get(normalize_mint_url(mint_url))
        if client is None:
            raise UntrustedMint(f"this node does not accept tokens from {mint_url}")
        return client

    def client_for_journal(self, normalized_url: str) -> MintClient:
        """A client for an operation journaled earlier, also if that mint has since left the trusted list."""
        return self._clients.get(normalized_url) or MintClient(self._http, normalized_url, timeout_s=self._timeout_s)

    def all(self) -> list[MintClient]:
        return list(self._clients.values())
