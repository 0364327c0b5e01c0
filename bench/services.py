"""The processes under test: start on a free port, wait for readiness, measure RSS, stop; a throwaway database."""

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_S = 30.0


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


def start_service(name: str, args: list[str], port: int, log_dir: Path, env: dict[str, str] | None = None) -> Service:
    """Run `python <args>` and wait until GET /v1/models answers (any status below 500)."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    service = Service(name, process, port, log_path)
    try:
        _wait_ready(service)
    except RuntimeError:
        stop_service(service)
        raise
    return service


def _wait_ready(service: Service) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            tail = service.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{service.base_url}/models", timeout=1.0).status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{service.name} not ready after {READY_TIMEOUT_S}s (log: {service.log_path})")


def stop_service(service: Service) -> None:
    service.process.terminate()
    try:
        service.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        service.process.kill()
        service.process.wait()


def rss_mb(pid: int) -> float:
    """VmRSS of the process and its descendants (a server may run its worker as a child)."""
    total_kb = sum(_vm_rss_kb(member) for member in _process_tree(pid))
    return total_kb / 1024


def _vm_rss_kb(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _process_tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree = [root]
    for pid in tree:
        tree.extend(child for child, parent in parents.items() if parent == pid)
    return tree


class PostgresDatabase:
    """A fresh database on a trust-auth server, created for the run and dropped after it."""

    def __init__(self, admin_url: str) -> None:
        self._admin_url = admin_url.rstrip("/")
        self.name = f"routstr_bench_{secrets.token_hex(4)}"

    @property
    def url(self) -> str:
        return f"{self._admin_url}/{self.name}"

    def create(self) -> None:
        self._psql(f"create database {self.name}")

    def drop(self) -> None:
        self._psql(f"drop database if exists {self.name} with (force)")

    def _psql(self, statement: str) -> None:
        subprocess.run(
            ["psql", f"{self._admin_url}/postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", statement],
            check=True,
            capture_output=True,
            timeout=30,
        )
