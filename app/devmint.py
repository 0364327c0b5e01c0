"""A local FakeWallet test mint for `python -m app serve` when no CASHU_MINTS is configured: a newcomer's node can
take ecash at once. It pays every invoice instantly, so its ecash is worth nothing outside this machine."""

import logging
import subprocess
import time
from pathlib import Path

import httpx

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
RUN_MINT = ROOT / "scripts" / "run-mint.sh"
PORT = 3338  # fixed, so the mint's keys (derived from its port) stay the same across restarts
READY_TIMEOUT_S = 60.0


def start_local_mint(data_dir: Path) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start the mint and wait until it answers; None if the project's mint venv script is not there."""
    if not RUN_MINT.exists():
        return None
    url = f"http://127.0.0.1:{PORT}"
    mint_dir = (data_dir / "local-mint").resolve()
    mint_dir.mkdir(parents=True, exist_ok=True)
    log_file = (mint_dir / "mint.log").open("ab")
    process = subprocess.Popen([str(RUN_MINT), str(PORT), str(mint_dir), "0"], stdout=log_file, stderr=log_file)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(url + "/v1/keys", timeout=1).status_code == 200:
                log.warning("cashu.local_mint: no CASHU_MINTS set, using the FakeWallet test mint at %s", url)
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"the local test mint did not start; see {mint_dir / 'mint.log'}")


def stop_local_mint(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
