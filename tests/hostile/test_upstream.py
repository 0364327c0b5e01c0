"""A hostile upstream against a running node, on both databases: whatever it says, no user is ever credited, nobody
pays more than the reservation, delivered output is always metered, and nothing it leaks reaches a client."""

import asyncio
import time
from typing import Any

import httpx
import openai
import orjson
import pytest

from app.db.database import open_database
from app.ledger.service import Ledger
from standin.hostile import LEAKED_KEY, LEAKED_PASSWORD, LEAKED_PATH
from tests.fixtures.node import NodeFactory, RunningNode, create_key, key_state
from tests.fixtures.sdk import openai_client

GRANT = 100_000
PROMPT = "hello there, node"  # 17 chars: ceil(17/4) = 5 tokens estimated, ceil(17/3) = 6 reserved
RESERVED_PROMPT_MSAT = 6  # TEST_PRICES: 1 msat per prompt token, 2 per completion token
ESTIMATED_PROMPT_MSAT = 5


def chat(case: str | None = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "standin-small", "messages": [{"role": "user", "content": PROMPT}], **fields}
    if case is not None:
        body["standin"] = {**body.get("standin", {}), "hostile": case}
    return body


def sdk_chat(case: str, **fields: Any) -> dict[str, Any]:
    """The same body as keyword arguments of the OpenAI SDK (the stand-in's switches travel as extra_body)."""
    body = chat(case, **fields)
    switches = body.pop("standin")
    return {**body, "extra_body": {"standin": switches}}


def post(node: RunningNode, key: str, body: dict[str, Any], path: str = "/chat/completions") -> httpx.Response:
    return httpx.post(node.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=30)


def ledger_rows(node: RunningNode, key: str) -> list[tuple[str, int]]:
    """(kind, amount_msat) of every ledger row of the key, oldest first, once nothing is reserved any more."""
    deadline = time.monotonic() + 10
    while key_state(node, key)["reserved_msat"] and time.monotonic() < deadline:
        time.sleep(0.05)

    async def read() -> list[tuple[str, int]]:
        db = open_database(node.settings.database_url)
        try:
            ledger = Ledger(db)
            account = await ledger.find(key)
            assert account is not None
            return [(entry.kind.value, entry.amount_msat) for entry in await ledger.entries(account.id)]
        finally:
            await db.close()

    return asyncio.run(read())


def charged(node: RunningNode, key: str, msat: int) -> None:
    """The key paid exactly `msat` in one charge row, and holds nothing back."""
    assert ledger_rows(node, key) == [("adjustment", GRANT), ("charge", -msat)]
    assert key_state(node, key) == {"balance_msat": GRANT - msat, "reserved_msat": 0}


def untouched(node: RunningNode, key: str) -> None:
    assert ledger_rows(node, key) == [("adjustment", GRANT)]
    assert key_state(node, key) == {"balance_msat": GRANT, "reserved_msat": 0}


def sse_payloads(body: bytes) -> list[Any]:
    events = [event for event in body.split(b"\n\n") if event.startswith(b"data: ")]
    return [orjson.loads(e[6:]) if e[6:] != b"[DONE]" else "[DONE]" for e in events]


@pytest.fixture
def node(node_factory: NodeFactory) -> RunningNode:
    return node_factory()


@pytest.mark.parametrize("case", ["negative_usage", "overflow_usage"])
def test_unbelievable_usage_in_json_is_ignored_and_the_text_is_counted(node: RunningNode, case: str) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat(case))

    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "hi " * 8
    cost = ESTIMATED_PROMPT_MSAT + 6 * 2  # 24 characters at 4 a token
    assert int(reply.headers["x-routstr-cost-msats"]) == cost
    charged(node, key, cost)


def test_negative_usage_in_a_stream_never_credits(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("negative_usage", stream=True))

    assert reply.status_code == 200 and sse_payloads(reply.content)[-1] == "[DONE]"
    charged(node, key, ESTIMATED_PROMPT_MSAT + 8 * 2)  # 8 events with text outnumber 24 chars / 4


def test_huge_usage_costs_at_most_the_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    json_reply = post(node, key, chat("huge_usage", max_tokens=8))
    reservation = RESERVED_PROMPT_MSAT + 8 * 2

    assert json_reply.status_code == 200
    assert int(json_reply.headers["x-routstr-cost-msats"]) == reservation
    charged(node, key, reservation)


def test_huge_usage_in_a_stream_costs_at_most_the_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("huge_usage", max_tokens=8, stream=True))

    assert int(reply.headers["x-routstr-reserved-msats"]) == RESERVED_PROMPT_MSAT + 8 * 2
    charged(node, key, RESERVED_PROMPT_MSAT + 8 * 2)


def test_a_stream_answered_with_json_is_metered_from_the_json(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("json_for_stream", stream=True))

    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    assert reply.json()["choices"][0]["message"]["content"] == "hi " * 8
    assert int(reply.headers["x-routstr-cost-msats"]) == 5 + 8 * 2  # the JSON's own usage
    charged(node, key, 5 + 8 * 2)


def test_a_json_request_answered_with_a_stream_is_metered_from_the_stream(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("stream_for_json"))

    assert reply.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(reply.content)
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in payloads[:-1] if p["choices"]) == "hi " * 8
    charged(node, key, 5 + 8 * 2)


def test_a_last_event_without_its_blank_line_is_delivered_whole_and_metered(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    sdk = openai_client(node.url, key)
    chunks = list(sdk.chat.completions.create(**sdk_chat("unterminated_event", stream=True)))

    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi " * 8
    charged(node, key, 5 + 8 * 2)  # the usage it carried


def test_a_last_event_without_usage_or_blank_line_is_counted(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("unterminated_event", stream=True, standin={"usage": False}))

    assert reply.content.endswith(b"\n\n")
    charged(node, key, ESTIMATED_PROMPT_MSAT + 6 * 2)  # one event of 24 characters


def test_an_endless_stream_is_cut_off_and_costs_its_reservation(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("endless_stream", stream=True, max_tokens=8))

    payloads = sse_payloads(reply.content)
    assert payloads[-1] == "[DONE]"
    assert payloads[-2]["error"]["code"] == "upstream_over_budget"
    relayed = sum(1 for p in payloads[:-2] if p["choices"][0]["delta"].get("content"))
    assert 8 <= relayed <= 8 * 2 + 16  # the budget, with the meter's slack
    charged(node, key, RESERVED_PROMPT_MSAT + 8 * 2)


def test_the_sdk_sees_a_cut_off_stream_as_an_error(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    sdk = openai_client(node.url, key)
    with pytest.raises(openai.APIError, match="cut off"):
        for _ in sdk.chat.completions.create(**sdk_chat("endless_stream", stream=True, max_tokens=4)):
            pass
    charged(node, key, RESERVED_PROMPT_MSAT + 4 * 2)


def test_an_endless_json_reply_is_cut_off_and_costs_nothing_as_none_of_it_was_delivered(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("endless_json", max_tokens=8))

    assert reply.status_code == 502 and reply.json()["error"]["code"] == "upstream_reply_too_large"
    untouched(node, key)


def test_an_upstream_500_leaks_nothing_and_costs_nothing(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("traceback_500"))

    assert reply.status_code == 502
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "code"} and error["type"] == "upstream_error"
    assert error["message"].startswith("upstream answered HTTP 500: Internal error: Traceback")
    for leak in (LEAKED_KEY, LEAKED_PATH, "server.py", LEAKED_PASSWORD, "debug", "Bearer sk"):
        assert leak not in reply.text
    assert len(error["message"]) <= 250
    untouched(node, key)


def test_an_html_error_page_is_never_relayed(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("html_404"))

    assert reply.status_code == 404 and reply.headers["content-type"] == "application/json"
    assert reply.json()["error"] == {
        "message": "upstream refused the request (HTTP 404)",
        "type": "upstream_error",
        "code": "upstream_rejected",
    }
    assert "<" not in reply.text and "nginx" not in reply.text and LEAKED_KEY not in reply.text
    untouched(node, key)


def test_an_upstream_redirect_is_not_followed(node: RunningNode) -> None:
    key = create_key(node, GRANT)
    reply = post(node, key, chat("redirect_307"))

    assert reply.status_code == 502
    assert reply.json()["error"]["message"] == "upstream answered HTTP 307 (a redirect, not followed)"
    untouched(node, key)


def test_a_garbage_model_list_never_stops_the_node(node_factory: NodeFactory, standin_url: str) -> None:
    node = node_factory(upstream_base_url=standin_url.replace("/v1", "/garbage/v1"), unpriced_models="default")
    listed = {m["id"]: m for m in httpx.get(node.url + "/models", timeout=10).json()["data"]}

    assert set(listed) == {"standin-small", "standin-large", "standin-embed"}
    assert listed["standin-small"]["context_length"] == 32_768
    key = create_key(node, GRANT)
    assert post(node, key, chat()).status_code == 200
