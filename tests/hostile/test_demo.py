"""No silent demo: the FakeWallet test mint and the stand-in run only when asked (DEMO=true), say so, and go
away with the node; a node without them refuses to start with one line naming the missing setting."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from app.devmint import LocalMint, LocalMintFailed, wait_until_ours
from tests.fixtures.node_process import ROOT, NodeProcess
from tests.fixtures.ports import free_port

GONE_TIMEOUT_S = 15.0


def _cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=tmp_path,  # no .env there
        env=base | {"PYTHONPATH": str(ROOT), "DATABASE_URL": f"sqlite:///{tmp_path}/node.db", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _one_line_naming(done: subprocess.CompletedProcess[str], setting: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"configuration error: {setting}")
    assert "Traceback" not in done.stderr


def test_serve_without_mints_or_demo_refuses_with_one_line(tmp_path: Path) -> None:
    _one_line_naming(_cli(tmp_path, "serve"), "CASHU_MINTS")
    assert not (tmp_path / "node.db").exists()  # refused before touching anything


def test_serve_with_real_mints_but_no_upstream_refuses_with_one_line(tmp_path: Path) -> None:
    done = _cli(tmp_path, "serve", CASHU_MINTS="https://mint.example")
    _one_line_naming(done, "UPSTREAM_BASE_URL")


@pytest.mark.parametrize("command", [["serve"], ["migrate"]])
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("MODEL_PRICES", "{not json"),
        ("MODEL_PRICES", '{"m": {"prompt_msat_per_mtok": 1}}'),
        ("UPSTREAM_BASE_URL", "localhost:8000/v1"),
        ("CASHU_MINTS", "https://mint.example,mint2.example"),
        ("DATABASE_URL", "mysql://db/node"),
        ("NSEC", "nsec1notakey"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, command: list[str], setting: str, value: str
) -> None:
    done = _cli(tmp_path, *command, DEMO="true", **{setting: value})
    _one_line_naming(done, setting)
    assert value not in done.stderr or setting == "MODEL_PRICES"  # URLs and keys are not echoed


def _demo_node(tmp_path: Path) -> NodeProcess:
    node = NodeProcess(
        database_url=f"sqlite:///{tmp_path}/node.db", mint_urls=[], upstream_url="", work_dir=tmp_path,
        env={"DEMO": "true"},
    )  # fmt: skip
    node.start()
    return node


def _answers(url: str) -> bool:
    try:
        httpx.get(url + "/v1/info", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def _wait_gone(url: str) -> None:
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while _answers(url):
        assert time.monotonic() < deadline, f"the demo mint at {url} outlived its node"
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_a_demo_node_runs_its_own_fake_mint_says_so_and_stops_it_with_the_node(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    node = _demo_node(tmp_path)
    try:
        info = httpx.get(node.url + "/info", timeout=10).json()
        assert info["demo"] is True
        assert info["mints"] == info["fake_mints"]
        (mint_url,) = info["fake_mints"]
        assert not mint_url.endswith(":3338")
        assert "demo.fake_mint" in node.log_tail()
        assert _answers(mint_url)
        os.kill(node.pid, stop_signal)
        _wait_gone(mint_url)
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while node.running:
            assert time.monotonic() < deadline, "the node did not stop"
            time.sleep(0.1)
    finally:
        node.stop()


@pytest.mark.slow
def test_the_demo_mint_and_stand_in_die_with_a_killed_node(tmp_path: Path) -> None:
    node = _demo_node(tmp_path)
    try:
        (mint_url,) = httpx.get(node.url + "/info", timeout=10).json()["fake_mints"]
        standin_url = re.search(r"demo replies from (\S+)/v1", node.log_tail())
        assert standin_url is not None, node.log_tail()
        assert httpx.get(standin_url[1] + "/v1/models", timeout=5).status_code == 200
        node.kill()  # SIGKILL: no shutdown code runs in the node
        _wait_gone(mint_url)
        _wait_gone(standin_url[1])  # the stand-in, a child process too
    finally:
        node.stop()


def test_a_mint_that_is_not_the_child_is_never_trusted(tmp_path: Path) -> None:
    """Whatever answers on the child's port must give the random name the child was started with."""

    async def info(_: object) -> JSONResponse:
        return JSONResponse({"name": "someone else's mint"})

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(Starlette(routes=[Route("/v1/info", info)]), port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    child = subprocess.Popen(["sleep", "30"])
    try:
        while not server.started:
            time.sleep(0.01)
        impostor = LocalMint(f"http://127.0.0.1:{port}", child, tmp_path / "mint.log")
        with pytest.raises(LocalMintFailed, match="another mint"):
            asyncio.run(wait_until_ours(impostor, "ours"))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        child.kill()
        child.wait()
