"""LNURL-pay resolution pieces that need no service: the address's URL and a bolt11 invoice's amount."""

import asyncio

import httpx
import pytest

from app.bolt11 import bolt11_amount_msat
from app.cashu.client import MintClient
from app.payments.lnurl import InvalidLightningAddress, lnurlp_url
from tests.fixtures.mint import RunningMint


def test_an_address_resolves_to_its_well_known_url_over_https_unless_on_loopback() -> None:
    assert lnurlp_url("Alice@Example.com") == "https://example.com/.well-known/lnurlp/alice"
    assert lnurlp_url("bob@127.0.0.1:8080") == "http://127.0.0.1:8080/.well-known/lnurlp/bob"
    assert lnurlp_url("bob@localhost") == "http://localhost/.well-known/lnurlp/bob"
    assert lnurlp_url("bob@127.0.0.1.example.com") == "https://127.0.0.1.example.com/.well-known/lnurlp/bob"


@pytest.mark.parametrize("address", ["alice", "@example.com", "alice@", "a b@example.com", "alice@ex/ample.com"])
def test_anything_else_is_refused(address: str) -> None:
    with pytest.raises(InvalidLightningAddress):
        lnurlp_url(address)


def test_bolt11_amounts_with_every_multiplier() -> None:
    # the human-readable parts of BOLT-11's own examples; the data part is not read for the amount
    assert bolt11_amount_msat("lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzq") == 250_000_000
    assert bolt11_amount_msat("lnbc20m1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzq") == 2_000_000_000
    assert bolt11_amount_msat("lnbc9678785340p1pwmna7lpp5gc3xfm08u9qy06djf8dfflhugl") == 967_878_534
    assert bolt11_amount_msat("lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzq") is None  # no amount
    assert bolt11_amount_msat("cashuBxyz") is None


def test_a_mints_invoice_asks_the_amount_quoted(mint: RunningMint) -> None:
    async def quote() -> str:
        async with httpx.AsyncClient() as http:
            return (await MintClient(http, mint.url).mint_quote(21)).request

    assert bolt11_amount_msat(asyncio.run(quote())) == 21_000
