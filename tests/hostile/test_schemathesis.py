"""schemathesis against a running node, from its own /openapi.json: generated and malformed requests to every
documented operation, with a funded key, never get a 5xx."""

import asyncio
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fixtures.mint import RunningMint
from tests.fixtures.node import NodeFactory

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MAX_EXAMPLES = 15  # per operation, valid and invalid data: a few hundred cases in all
TIME_BUDGET_S = 45


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_no_generated_request_gets_a_5xx(node_factory: NodeFactory, mint: RunningMint, tmp_path: Path) -> None:
    node = node_factory(cashu_mints=[mint.url])
    token = asyncio.run(mint.make_token(1000))
    key = httpx.post(node.url + "/balance/create", json={"cashu_token": token}, timeout=30).json()["api_key"]

    started = time.monotonic()
    run = subprocess.run(
        [
            str(SCHEMATHESIS), "run", f"{node.root}/openapi.json", "--checks", "not_a_server_error",
            "--phases", "fuzzing", "--max-examples", str(MAX_EXAMPLES), "--max-time", str(TIME_BUDGET_S),
            "--workers", "1",
            "--seed", "21", "--generation-database", "none", "--no-color", "--request-timeout", "20",
            "--header", f"Authorization: Bearer {key}",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    took = time.monotonic() - started

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    cases = int(re.search(r"(\d+) generated", run.stdout).group(1))  # type: ignore[union-attr]
    assert cases >= 100, run.stdout[-3000:]
    print(f"schemathesis: {cases} cases in {took:.1f}s")
