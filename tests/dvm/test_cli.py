"""`python -m app dvm request`: an operator tries the DVM end to end from a shell."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.cashu.tokens import decode_token
from app.nostr.keys import NodeKeys
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory
from tests.fixtures.relay import TestRelay
from tests.payments.helpers import books

ROOT = Path(__file__).resolve().parents[2]


def dvm_request(relay: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "app", "dvm", "request", "--relay", relay, "--timeout", "30", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_a_paid_request_prints_the_result_and_the_change(
    node_factory: NodeFactory, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    keys, relay = NodeKeys.generate(), nostr_relays[1]
    node = node_factory(cashu_mints=[mint.url], dvm_enabled=True, relays=[relay.url], nsec=keys.nsec())
    token = asyncio.run(mint.make_token(4))
    customer = NodeKeys.generate()

    done = dvm_request(
        relay.url, "--model", "standin-small", "--prompt", "hello", "--provider", keys.npub, "--cashu", token,
        "--nsec", customer.nsec(), "--max-tokens", "8",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    text, change_line = done.stdout.strip().rsplit("\n", 1)
    assert text and change_line.startswith("change: cashu")
    assert decode_token(change_line.removeprefix("change: ")).amount == 3
    assert books(node).reconciles

    refused = dvm_request(relay.url, "--model", "nope", "--prompt", "hello", "--provider", keys.pubkey)
    assert refused.returncode == 1 and "error:" in refused.stderr and "nope" in refused.stderr
