"""The node as the benchmark drives it: its environment, its operator CLI, and one probe request."""

import os
import subprocess
import sys
from typing import Any

import httpx
import orjson

COST_HEADER = "x-routstr-cost-msats"
CLI_TIMEOUT_S = 120


def node_env(database_url: str, upstream_url: str, mint_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "UPSTREAM_BASE_URL": upstream_url,
        "CASHU_MINTS": mint_url,
        "ANNOUNCE": "false",
        "LOG_LEVEL": "WARNING",
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def create_key(env: dict[str, str], balance_msat: int) -> str:
    done = _cli(env, "keys", "create", "--balance-msat", str(balance_msat))
    if done.returncode != 0:
        raise RuntimeError(f"keys create failed: {done.stderr[-1000:]}")
    return done.stdout.strip().splitlines()[-1]


def show_key(env: dict[str, str], key: str) -> dict[str, Any]:
    done = _cli(env, "keys", "show", key)
    if done.returncode != 0:
        raise RuntimeError(f"keys show failed: {done.stderr[-1000:]}")
    shown: dict[str, Any] = orjson.loads(done.stdout)
    return shown


def ledger_check(env: dict[str, str]) -> tuple[bool, str]:
    done = _cli(env, "ledger", "check")
    return done.returncode == 0, (done.stdout + done.stderr)[-2000:]


def probe_cost(env: dict[str, str], base_url: str, key: str, body: bytes, spent_before: int) -> tuple[int, int]:
    """One request; its cost from the response header, cross-checked with the key's spend (streams carry no
    header, so their cost is the spend delta). Returns (cost, spent after)."""
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(timeout=30.0) as client:
        reply = client.post(f"{base_url}/chat/completions", content=body, headers=headers)
    if reply.status_code != 200:
        raise RuntimeError(f"probe answered {reply.status_code}: {reply.text[:300]}")
    spent_after = int(show_key(env, key)["spent_msat"])
    delta = spent_after - spent_before
    header = reply.headers.get(COST_HEADER)
    if header is not None and int(header) != delta:
        raise RuntimeError(f"{COST_HEADER} says {header} msat but the key was charged {delta} msat")
    return delta, spent_after
