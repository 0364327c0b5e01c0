"""The FakeWallet test mint a demo node (DEMO=true, no CASHU_MINTS) starts for itself. It pays every invoice at once,
so its ecash is worth nothing outside this machine: the node says so at start and in /v1/info.

The mint keeps its port and private key in its data dir, so its keysets and URL (and the node's ecash at it) stay
the same across restarts while the port is free. A mint already on that port is never trusted: the node asks the
one that answers for the random name it gave its own child."""

import asyncio
import logging
import os
import secrets
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.children import die_with_parent, stop_child

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RUN_MINT = ROOT / "scripts" / "run-mint.sh"
READY_TIMEOUT_S = 60.0
LEGACY_PRIVATE_KEY = "routstr-test-mint-3338"  # what data dirs from before the key file was kept were minted with


class LocalMintFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class LocalMint:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path


async def start_local_mint(data_dir: Path) -> LocalMint:
    """Start the mint and wait until the mint answering on its port proves to be this child."""
    if not RUN_MINT.exists():
        raise LocalMintFailed(f"DEMO=true needs {RUN_MINT} (a source checkout); or set CASHU_MINTS")
    mint_dir = (data_dir / "local-mint").resolve()
    mint_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    port = _port(mint_dir)
    name = f"routstr-node demo mint {secrets.token_hex(8)}"
    mint = _spawn(mint_dir, port, name)
    try:
        await wait_until_ours(mint, name)
    except BaseException:
        await stop_local_mint(mint)
        raise
    return mint


async def stop_local_mint(mint: LocalMint) -> None:
    await stop_child(mint.process)


def _spawn(mint_dir: Path, port: int, name: str) -> LocalMint:
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if key in os.environ}
    env |= {"MINT_PRIVATE_KEY": _private_key(mint_dir), "MINT_INFO_NAME": name}
    log_path = mint_dir / "mint.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [str(RUN_MINT), str(port), str(mint_dir), "0"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=die_with_parent(),  # only a prctl call runs between fork and exec
        )
    return LocalMint(f"http://127.0.0.1:{port}", process, log_path)


async def wait_until_ours(mint: LocalMint, name: str) -> None:
    """Until the mint on `mint.url` answers; it must give the name its child was started with."""
    deadline = asyncio.get_running_loop().time() + READY_TIMEOUT_S
    async with httpx.AsyncClient(timeout=1.0) as http:
        while asyncio.get_running_loop().time() < deadline:
            if mint.process.poll() is not None:
                raise LocalMintFailed(f"the local test mint exited during start-up; see {mint.log_path}")
            try:
                answer = await http.get(mint.url + "/v1/info")
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code == 200:
                if answer.json().get("name") != name:
                    raise LocalMintFailed(f"another mint answers on {mint.url}; the node will not trust it")
                return
            await asyncio.sleep(0.2)
    raise LocalMintFailed(f"the local test mint did not answer in {READY_TIMEOUT_S:.0f}s; see {mint.log_path}")


def _port(mint_dir: Path) -> int:
    """The port used last time if it is still free, else a new free one."""
    remembered = mint_dir / "port"
    if remembered.exists() and _is_free(int(remembered.read_text())):
        return int(remembered.read_text())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    remembered.write_text(str(port))
    return port


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _private_key(mint_dir: Path) -> str:
    path = mint_dir / "private.key"
    if not path.exists():
        key = LEGACY_PRIVATE_KEY if (mint_dir / "mintdb").exists() else secrets.token_hex(32)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(key)
    return path.read_text(encoding="ascii").strip()
