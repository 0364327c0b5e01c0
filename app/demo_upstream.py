"""The upstream a demo node (DEMO=true, no UPSTREAM_BASE_URL) starts for itself: the stand-in of the source checkout
(`standin/`, not in the production image) as a child process on a free port, gone with the node."""

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.children import die_with_parent, stop_child

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "standin"
READY_TIMEOUT_S = 30.0


class DemoUpstreamFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class DemoUpstream:
    url: str  # the OpenAI base URL, ending in /v1
    process: subprocess.Popen[bytes]


async def start_demo_upstream(data_dir: Path) -> DemoUpstream:
    upstream = _spawn(data_dir, _free_port())
    try:
        await _wait_ready(upstream)
    except BaseException:
        await stop_demo_upstream(upstream)
        raise
    return upstream


async def stop_demo_upstream(upstream: DemoUpstream) -> None:
    await stop_child(upstream.process)


async def _wait_ready(upstream: DemoUpstream) -> None:
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=1.0) as http:
        while asyncio.get_running_loop().time() < deadline:
            if upstream.process.poll() is not None:
                raise DemoUpstreamFailed("the demo stand-in exited during start-up; see standin.log in DATA_DIR")
            try:
                if (await http.get(upstream.url + "/models")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise DemoUpstreamFailed(f"the demo stand-in did not answer in {READY_TIMEOUT_S:.0f}s")


def _spawn(data_dir: Path, port: int) -> DemoUpstream:
    if not (STANDIN / "__main__.py").exists():
        raise DemoUpstreamFailed(f"DEMO=true without UPSTREAM_BASE_URL needs {STANDIN} (a source checkout)")
    log_dir = data_dir.resolve()
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    with (log_dir / "standin.log").open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "standin", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env | {"PYTHONPATH": str(ROOT)},
            preexec_fn=die_with_parent(),  # only a prctl call runs between fork and exec
        )
    return DemoUpstream(f"http://127.0.0.1:{port}/v1", process)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
