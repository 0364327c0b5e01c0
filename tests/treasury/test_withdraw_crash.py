"""SIGKILL of `python -m app earnings withdraw` while its swap is at the mint: the next `earnings` command settles
the withdrawal from the mint's own word (NUT-07/09), once. The operator's token is fetched with `earnings token ID`
(the same token every time), the user's balance is untouched and the books reconcile."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from app.cashu.client import MintClient
from app.cashu.messages import ProofState
from app.cashu.tokens import decode_token
from app.db.database import open_database
from app.payments.deposits import Purpose
from app.treasury.verify import verify_with_mints
from tests.fixtures.gate import Gate, Mode, addressed_to, token_states
from tests.fixtures.mint import RunningMint
from tests.fixtures.node_process import ROOT, books, operator_command
from tests.treasury.stacks import stack
from tests.treasury.test_earnings import charge
from tests.treasury.test_withdraw_bolt11 import invoice_of

MINT_TIMEOUT_S = "3"  # the killed command's lease on its withdrawal (MINT_TIMEOUT_S + 5) runs out soon
SETTLED_WITHIN_S = 60.0


async def earn(database_url: str, gate: Gate, mint: RunningMint) -> None:
    """A user deposits 20 sat (through the gate, which the node names as the mint) and is charged 10 of them."""
    async with stack(database_url, gate.url) as node:
        deposit = await node.deposits.deposit(addressed_to(await mint.make_token(20), gate.url), Purpose.CREATE)
        await charge(node, deposit.account.key_hash, 10_000)


def spawn_withdrawal(database_url: str, work_dir: Path, *how: str) -> "subprocess.Popen[str]":
    work_dir.mkdir(parents=True, exist_ok=True)
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    env |= {"DATABASE_URL": database_url, "DATA_DIR": str(work_dir / "data"), "PYTHONPATH": str(ROOT),
            "MINT_TIMEOUT_S": MINT_TIMEOUT_S}  # fmt: skip
    command = [sys.executable, "-m", "app", "earnings", "withdraw", *how]
    return subprocess.Popen(command, env=env, cwd=work_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def withdrawals_after_settling(database_url: str, work_dir: Path) -> list[dict[str, object]]:
    """`python -m app earnings --json` until no withdrawal is open (the dead command's lease has to run out)."""
    deadline = time.monotonic() + SETTLED_WITHIN_S
    while True:
        shown = operator_command(database_url, work_dir, "earnings", "--json")
        assert shown.returncode == 0, shown.stderr
        listed: list[dict[str, object]] = json.loads(shown.stdout)["withdrawals"]
        if all(w["state"] != "planned" for w in listed) or time.monotonic() > deadline:
            return listed
        time.sleep(0.5)


async def mints_agree(database_url: str) -> list[object]:
    db = open_database(database_url)
    try:
        async with httpx.AsyncClient() as http:
            return list((await verify_with_mints(db, lambda url: MintClient(http, url))).differences)
    finally:
        await db.close()


@pytest.mark.parametrize("forward", [True, False], ids=["mint-did-it", "never-reached-the-mint"])
def test_sigkill_mid_withdrawal_settles_once_after_restart(
    database_url: str, mint: RunningMint, gate: Gate, tmp_path: Path, forward: bool
) -> None:
    asyncio.run(earn(database_url, gate, mint))
    gate.set(Mode.HOLD)
    killed = spawn_withdrawal(database_url, tmp_path / "killed", "--token", "--amount", "10")
    gate.wait_held(1)
    os.kill(killed.pid, signal.SIGKILL)
    _, printed_stderr = killed.communicate(timeout=10)
    answers = gate.release(forward=forward)
    gate.set(Mode.PASS)

    assert len(answers) == (1 if forward else 0)
    (withdrawal,) = withdrawals_after_settling(database_url, tmp_path / "operator")
    assert (withdrawal["state"], withdrawal["amount_msat"]) == ("completed", 10_000)
    fetched = [operator_command(database_url, tmp_path / "operator", "earnings", "token", str(withdrawal["id"]))
               for _ in range(2)]  # fmt: skip
    assert [f.returncode for f in fetched] == [0, 0], fetched[-1].stderr
    token = fetched[0].stdout.strip()
    assert fetched[1].stdout.strip() == token and decode_token(token).amount == 10
    assert token_states(token, mint.url) == {ProofState.UNSPENT}
    assert "cashu" not in printed_stderr
    report = books(database_url)
    assert (report.withdrawn_msat, report.liabilities_msat, report.assets_msat) == (10_000, 10_000, 10_000)
    assert (report.open_operations, report.reconciles) == (0, True)
    assert asyncio.run(mints_agree(database_url)) == []


@pytest.mark.parametrize("forward", [True, False], ids=["mint-paid-it", "never-reached-the-mint"])
def test_sigkill_mid_melt_settles_once_after_restart(
    database_url: str, mint: RunningMint, mint_fee: RunningMint, gate: Gate, tmp_path: Path, forward: bool
) -> None:
    """The same for paying an invoice: the melt is held at the gate when the command dies; afterwards the quote's
    state settles it (or, never sent, it is sent again as planned and paid), and the unused fee comes back."""
    asyncio.run(earn(database_url, gate, mint))
    invoice = asyncio.run(invoice_of(mint_fee, 5))
    gate.set(Mode.HOLD, path="/v1/melt/bolt11")
    killed = spawn_withdrawal(database_url, tmp_path / "killed", "--bolt11", invoice, "--yes")
    gate.wait_held(1)
    os.kill(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=10)
    answers = gate.release(forward=forward)

    assert len(answers) == (1 if forward else 0)
    (withdrawal,) = withdrawals_after_settling(database_url, tmp_path / "operator")
    assert (withdrawal["state"], withdrawal["amount_msat"]) == ("completed", 6_000)  # 5 sat and FakeWallet's 1 sat fee
    report = books(database_url)
    assert (report.withdrawn_msat, report.liabilities_msat, report.assets_msat) == (6_000, 10_000, 14_000)
    assert (report.open_operations, report.reconciles) == (0, True)
    assert asyncio.run(mints_agree(database_url)) == []
