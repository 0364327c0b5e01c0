"""Lightning top-up under Routstr's own paths (/lightning/...) beside /v1/{balance,wallet}/lightning/..., with the
fields Routstr's clients read: `payment_hash`, `created_at`, `paid_at`. Against the real FakeWallet mint (which pays
every invoice at once)."""

import re
import subprocess
import time

import httpx
import pytest

from tests.fixtures.mint import MINT_VENV, RunningMint
from tests.fixtures.node import NodeFactory


def payment_hash_by_nutshell(bolt11: str) -> str:
    """The invoice's payment hash as an independent decoder reads it (the `bolt11` package in the mint's venv)."""
    script = "import sys, bolt11; print(bolt11.decode(sys.argv[1]).payment_hash)"
    done = subprocess.run([str(MINT_VENV / "bin" / "python"), "-c", script, bolt11], capture_output=True, text=True,
                          check=True, timeout=30)  # fmt: skip
    return done.stdout.strip()


@pytest.mark.parametrize("prefix", ["/lightning", "/v1/balance/lightning", "/v1/wallet/lightning"])
def test_an_invoice_and_its_status_carry_routstrs_fields(
    node_factory: NodeFactory, mint: RunningMint, prefix: str
) -> None:
    node = node_factory(cashu_mints=[mint.url])
    before = int(time.time())

    created = httpx.post(node.root + prefix + "/invoice", json={"amount_sats": 21, "purpose": "create"}, timeout=30)

    assert created.status_code == 200, created.text
    invoice = created.json()
    assert re.fullmatch(r"[0-9a-f]{64}", invoice["payment_hash"])
    assert invoice["payment_hash"] == payment_hash_by_nutshell(invoice["bolt11"])
    assert before <= invoice["created_at"] <= int(time.time()) and invoice["paid_at"] is None
    status = httpx.get(f"{node.root}{prefix}/invoice/{invoice['invoice_id']}/status", timeout=30).json()
    assert status["status"] == "paid" and status["balance"] == 21_000 and status["api_key"].startswith("sk-")
    assert status["payment_hash"] == invoice["payment_hash"] and status["created_at"] == invoice["created_at"]
    assert invoice["created_at"] <= status["paid_at"] <= int(time.time())
