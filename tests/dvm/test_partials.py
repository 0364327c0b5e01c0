"""Partial results: with DVM_PARTIAL_EVERY_S on, a job whose generation streams for seconds gets kind 7000 `partial`
feedback with the text so far (sealed for an encrypted job), charged once through the metered stream."""

import json
from collections.abc import Iterator
from typing import Any

import nostr_sdk
import pytest

from app.nostr.keys import NodeKeys
from tests.dvm.books import audited
from tests.dvm.conftest import CustomerRun, DvmFactory
from tests.dvm.customer import Answer, Customer, job_tags, tag_value
from tests.dvm.slow_upstream import slow_upstream
from tests.fixtures.node import RunningNode

MODEL = "standin-small"
TOKENS = 24  # streamed 150 ms apart: a generation of about 3.5 s


@pytest.fixture
def slow_dvm(start_dvm: DvmFactory, standin_url: str) -> Iterator[RunningNode]:
    with slow_upstream(standin_url, chunks=TOKENS, delay_ms=150) as upstream:
        yield start_dvm(upstream_base_url=upstream, dvm_partial_every_s=0.5)


def partials(answer: Answer) -> list[dict[str, Any]]:
    return [event for event in answer.feedback if tag_value(event, "status") == "partial"]


def test_a_long_generation_publishes_the_text_so_far(
    slow_dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str
) -> None:
    tags = job_tags("tell me a long story", MODEL, node_keys.pubkey, cashu=token, max_tokens=TOKENS)

    answer = as_customer(lambda customer: customer.submit(tags))

    assert len(answer.results) == 1, answer.statuses()
    final = answer.results[0]["content"]
    texts = [event["content"] for event in partials(answer)]
    assert len(texts) >= 3, texts  # about one every 0.5 s of 3.5 s
    assert all(text and final.startswith(text) for text in texts), (texts, final)
    assert len(set(texts)) == len(texts)  # each says something new
    assert min(map(len, texts)) < len(final) / 2  # the first came early
    charged = int(tag_value(answer.results[0], "amount") or 0)
    report = audited(slow_dvm)
    assert report.charged_msat == charged and 0 < charged < 5000  # the actual cost, not the reservation


def test_an_encrypted_job_gets_its_partial_results_sealed(
    slow_dvm: RunningNode, as_customer: CustomerRun, node_keys: NodeKeys, token: str
) -> None:
    node_key = nostr_sdk.PublicKey.parse(node_keys.pubkey)
    secret = [["i", "a secret story", "text"], ["param", "model", MODEL], ["param", "max_tokens", str(TOKENS)],
              ["cashu", token]]  # fmt: skip

    async def encrypted(customer: Customer) -> tuple[Answer, list[str], str]:
        sealed = nostr_sdk.nip44_encrypt(customer.keys.secret_key(), node_key, json.dumps(secret),
                                         nostr_sdk.Nip44Version.V2)  # fmt: skip
        answer = await customer.submit_event(customer.sign([["p", node_keys.pubkey], ["encrypted"]], content=sealed))

        def opened(payload: str) -> str:
            return str(nostr_sdk.nip44_decrypt(customer.keys.secret_key(), node_key, payload))

        return answer, [opened(event["content"]) for event in partials(answer)], opened(answer.results[0]["content"])

    answer, texts, final = as_customer(encrypted)

    assert len(texts) >= 3 and all(text and final.startswith(text) for text in texts)
    assert all("story" not in event["content"] for event in answer.feedback)
    report = audited(slow_dvm)
    assert report.charged_msat == int(tag_value(answer.results[0], "amount") or 0)
