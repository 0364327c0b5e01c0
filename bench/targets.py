"""Start the targets: the stand-in upstream, the pass-through, the node on SQLite and on PostgreSQL (with --workers
also N workers behind one port, and N separate node processes on one database)."""

import threading
from dataclasses import dataclass, field
from pathlib import Path

from bench import node
from bench.accounting import SpendTracker
from bench.services import Service, rss_mb, start_service, stop_service
from tests.fixtures.ports import free_port

UNUSED_MINT = "http://127.0.0.1:3338"  # the benchmark never pays with ecash; keys are funded by the CLI


@dataclass
class Target:
    name: str
    service: Service
    api_key: str = ""
    env: dict[str, str] = field(default_factory=dict)
    tracker: SpendTracker | None = None
    more_services: list[Service] = field(default_factory=list)  # further node processes on the same database

    @property
    def chat_url(self) -> str:
        return f"{self.service.base_url}/chat/completions"

    @property
    def services(self) -> list[Service]:
        return [self.service, *self.more_services]

    @property
    def chat_urls(self) -> list[str]:
        return [f"{service.base_url}/chat/completions" for service in self.services]

    @property
    def rss_mb(self) -> float:
        return sum(rss_mb(service.process.pid) for service in self.services)

    @property
    def is_node(self) -> bool:
        return bool(self.api_key)


def start_upstream(log_dir: Path) -> Target:
    port = free_port()
    service = start_service("upstream", ["-m", "standin", "--port", str(port)], port, log_dir)
    return Target("upstream", service)


def start_passthrough(upstream: Target, log_dir: Path, pool: int = 1024) -> Target:
    """`pool`: the pass-through's upstream connections (0: no cap, one per request in flight, as the node)."""
    port = free_port()
    args = ["-m", "bench.passthrough", "--port", str(port), "--upstream", upstream.service.base_url]
    name = "passthrough" if pool == 1024 else f"passthrough-{pool or 'nocap'}"
    return Target(name, start_service(name, [*args, "--pool", str(pool)], port, log_dir))


def start_node(
    name: str,
    database_url: str,
    upstream: Target,
    log_dir: Path,
    balance_msat: int,
    extra_env: dict[str, str] | None = None,
) -> Target:
    env = {**node.node_env(database_url, upstream.service.base_url, UNUSED_MINT), **(extra_env or {})}
    service = _serve(name, env, log_dir)
    try:
        api_key = node.create_key(env, balance_msat)
    except RuntimeError:
        stop_service(service)
        raise
    return Target(name, service, api_key=api_key, env=env)


def _serve(name: str, env: dict[str, str], log_dir: Path) -> Service:
    port = free_port()
    return start_service(name, ["-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)], port, log_dir, env)


def start_node_processes(
    name: str, database_url: str, upstream: Target, log_dir: Path, balance_msat: int, count: int
) -> Target:
    """`count` separate one-worker nodes on their own ports and one database (replicas); one key serves on all."""
    target = start_node(name, database_url, upstream, log_dir, balance_msat)
    for index in range(1, count):
        try:
            target.more_services.append(_serve(f"{name}.{index}", target.env, log_dir))
        except RuntimeError:
            for service in target.services:
                stop_service(service)
            raise
    return target


def refusal(name: str, database_url: str, upstream: Target, log_dir: Path, extra_env: dict[str, str]) -> str | None:
    """Start the node as configured; if it refuses to serve, its last log line (the reason), else None."""
    env = {**node.node_env(database_url, upstream.service.base_url, UNUSED_MINT), **extra_env}
    try:
        service = _serve(name, env, log_dir)
    except RuntimeError:
        lines = (log_dir / f"{name}.log").read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else "exited without a message"
    stop_service(service)
    return None


def price_node(target: Target, bodies: dict[str, bytes]) -> None:
    """One probe per mode gives the per-request cost the accounting check multiplies by."""
    spent = int(node.show_key(target.env, target.api_key)["spent_msat"])
    costs: dict[str, int] = {}
    for mode, body in bodies.items():
        costs[mode], spent = node.probe_cost(target.env, target.service.base_url, target.api_key, body, spent)
    target.tracker = SpendTracker(spent_before_msat=spent, costs_msat=costs)


class RssSampler:
    """Largest RSS of each node target's process tree while the runs go on, sampled in a thread."""

    def __init__(self, targets: list[Target], interval_s: float = 0.5) -> None:
        self._targets = targets
        self._interval_s = interval_s
        self.max_mb: dict[str, float] = {target.name: 0.0 for target in targets}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            for target in self._targets:
                self.max_mb[target.name] = max(self.max_mb[target.name], target.rss_mb)


def stop_targets(targets: list[Target]) -> None:
    for target in reversed(targets):
        for service in reversed(target.services):
            stop_service(service)
