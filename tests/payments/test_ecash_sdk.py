"""Paying with ecash from the OpenAI SDK: a token as the API key, and X-Cashu per request with change back."""

import asyncio

import httpx
import openai
import pytest
from openai import OpenAI

from app.cashu.tokens import decode_token
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.fixtures.sdk import openai_client
from tests.payments.helpers import books, info

# max_tokens bounds what a request may cost, so a small token can pay for it (the node reserves the maximum)
CHAT = {"model": "standin-small", "messages": [{"role": "user", "content": "hello there, node"}], "max_tokens": 8}
COST_MSAT = 5 * 1 + 8 * 2  # 5 prompt + 8 completion tokens at the test prices


def sdk(url: str, api_key: str, **kwargs: object) -> OpenAI:
    return openai_client(url, api_key, **kwargs)


def test_a_cashu_token_as_api_key_pays_for_chat(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(10))
    client = sdk(node.url, token)

    first = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    second = client.chat.completions.create(**CHAT)  # type: ignore[call-overload]

    assert first.choices[0].message.content == second.choices[0].message.content == "hi " * 8
    assert info(node, token)["balance"] == 10_000 - 2 * COST_MSAT
    assert books(node).deposited_msat == 10_000


def test_x_cashu_pays_one_request_and_the_change_comes_back_redeemable(
    node_factory: NodeFactory, mint: RunningMint
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(5))
    client = sdk(node.url, "unused", default_headers={"X-Cashu": token})

    raw = client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]

    assert raw.parse().choices[0].message.content == "hi " * 8
    change = raw.headers["x-cashu"]
    assert decode_token(change).amount == (5_000 - COST_MSAT) // 1000  # whole sats; the sub-sat rest stays claimable
    assert "4" in mint.cli("receive", change)
    report = books(node)
    assert report.reconciles and report.liabilities_msat == 5_000 - COST_MSAT - 4_000


def test_x_cashu_refused_by_the_upstream_returns_everything(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(3))
    client = sdk(node.url, "unused", default_headers={"X-Cashu": token})

    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(**CHAT, extra_body={"standin": {"status": 400}})  # type: ignore[call-overload]

    change = refused.value.response.headers["x-cashu"]
    assert decode_token(change).amount == 3
    assert books(node).liabilities_msat == 0


def test_x_cashu_stream_sends_its_change_in_its_own_header(node_factory: NodeFactory, mint: RunningMint) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(4))
    client = sdk(node.url, "unused", default_headers={"X-Cashu": token})

    raw = client.chat.completions.with_raw_response.create(**CHAT, stream=True)  # type: ignore[call-overload]
    chunks = list(raw.parse())
    claimed = httpx.post(node.url.replace("/v1", "") + "/v1/wallet/refund", headers={"X-Cashu": token}, timeout=30)

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi " * 8
    reserved_msat = 6 + 8 * 2  # 17 prompt bytes at 3 bytes a token, and 8 completion tokens
    assert decode_token(raw.headers["x-cashu"]).amount == (4_000 - reserved_msat) // 1000
    # what the reservation left is less than a sat (it stays on the token's key): a claim answers the last change
    # again, so a client that lost the stream's headers still gets it
    assert claimed.status_code == 200 and claimed.json()["token"] == raw.headers["x-cashu"]
    assert books(node).reconciles
