"""`python -m app dvm request` and `python -m app dvm refund`: an operator or customer uses the DVM from a shell."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.cashu.tokens import decode_token
from app.nostr.keys import NodeKeys
from tests.dvm.books import audited
from tests.dvm.conftest import DvmFactory
from tests.dvm.test_refund import credit_customer
from tests.fixtures.mint import RunningMint
from tests.fixtures.node import RunningNode
from tests.fixtures.relay import TestRelay
from tests.payments.test_deposits import proof_states

ROOT = Path(__file__).resolve().parents[2]


def dvm_command(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    command = [sys.executable, "-m", "app", "dvm", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def dvm_request(relay: str, *args: str) -> subprocess.CompletedProcess[str]:
    return dvm_command("request", "--relay", relay, "--timeout", "30", *args)


def test_a_paid_request_prints_the_result_and_the_change(
    start_dvm: DvmFactory, node_keys: NodeKeys, mint: RunningMint, nostr_relays: list[TestRelay]
) -> None:
    relay = nostr_relays[1]
    node = start_dvm(relays=[relay.url])
    token = asyncio.run(mint.make_token(4))
    customer = NodeKeys.generate()

    done = dvm_request(
        relay.url, "--model", "standin-small", "--prompt", "hello", "--provider", node_keys.npub, "--cashu", token,
        "--nsec", customer.nsec(), "--max-tokens", "8",
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    text, change_line = done.stdout.strip().rsplit("\n", 1)
    assert text and change_line.startswith("change: cashu")
    assert decode_token(change_line.removeprefix("change: ")).amount == 3
    audited(node)

    refused = dvm_request(relay.url, "--model", "nope", "--prompt", "hello", "--provider", node_keys.pubkey)
    assert refused.returncode == 1 and "error:" in refused.stderr and "nope" in refused.stderr


def test_refund_prints_the_customers_balance_as_a_token(dvm: RunningNode, mint: RunningMint) -> None:
    customer = NodeKeys.generate()
    credit_customer(dvm, mint, customer.pubkey, 2)

    paid = dvm_command("refund", "--node", dvm.url, "--nsec", customer.nsec())
    again = dvm_command("refund", "--node", dvm.root, "--nsec", customer.nsec())  # without /v1, a new auth event
    stranger = dvm_command("refund", "--node", dvm.root, "--nsec", NodeKeys.generate().nsec())

    assert paid.returncode == 0, paid.stderr
    token = paid.stdout.strip()
    assert decode_token(token).amount == 2 and "2000 msat" in paid.stderr
    assert again.returncode == 0 and again.stdout.strip() == token  # nothing left: the last refund again
    assert stranger.returncode == 1 and "no balance" in stranger.stderr
    mint.cli("receive", token)
    assert asyncio.run(proof_states(mint, token)) == {"SPENT"}
    assert audited(dvm).liabilities_msat == 0
    assert customer.nsec() not in paid.stderr + paid.stdout
