"""`python -m bench`: upstream stand-in vs bare pass-through vs the node (SQLite, PostgreSQL) under wrk.

See bench/README.md for the flags and what each number means.
"""

import argparse
import contextlib
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import report
from bench.accounting import verify
from bench.cpu import read_split
from bench.load import LoadResult, LoadSpec, run_split, split_connections, wrk_available
from bench.services import PostgresDatabase
from bench.targets import (
    RssSampler,
    Target,
    price_node,
    refusal,
    start_node,
    start_node_processes,
    start_passthrough,
    start_upstream,
    stop_targets,
)

ALL_TARGETS = ("upstream", "passthrough", "node-sqlite", "node-postgres")
PROMPT = [{"role": "user", "content": "Say hello to the benchmark"}]
BODIES = {
    "json": {"model": "standin-small", "messages": PROMPT},
    "sse": {"model": "standin-small", "messages": PROMPT, "stream": True, "standin": {"chunks": 8}},
}
Measured = dict[tuple[str, str, int], list[LoadResult]]
CpuPerRequest = dict[tuple[str, str, int], list[dict[str, float]]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, help="seconds per measured run (default 5; --quick: 1)")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of warm-up per target and cell")
    parser.add_argument("--runs", type=int, default=3, help="measured runs per cell; the median is reported")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s runs, 1 run, no warm-up")
    parser.add_argument("--concurrency", default="1,16,64", help="comma list of connection counts")
    parser.add_argument("--modes", default="json,sse", help="comma list of json, sse")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma list of " + ", ".join(ALL_TARGETS))
    parser.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--balance-msat", type=int, default=10**12, help="opening balance of each node's key")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N>1 adds the node with WORKERS=N and N separate node processes on one database (PostgreSQL)",
    )
    parser.add_argument("--results-dir", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.warmup = 1, 0.0
    if args.duration is None:
        args.duration = 1.0 if args.quick else 5.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    generator = _generator(args.load_generator)
    names = _csv(args.targets)
    with tempfile.TemporaryDirectory(prefix="routstr-bench-") as workdir, contextlib.ExitStack() as cleanup:
        skipped: dict[str, str] = {}
        upstream, targets = _start_targets(names, args, Path(workdir), cleanup, skipped)
        measured, cpu, sampler = _measure(targets, upstream, args, generator, Path(workdir))
        time.sleep(0.5)  # let the node settle requests that wrk cut off at its deadline
        extra = {**_after_runs(targets, sampler, generator, args), "skipped": skipped}
    cells = report.summarise(measured, cpu)
    extra["comparisons"] = report.comparisons(cells)
    print(report.table(cells, extra))
    path = args.results_dir / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    report.write_json(path, cells, extra)
    print(f"results: {path}")
    return 0 if all(check["ok"] for check in extra["accounting"].values()) else 1


def _generator(choice: str) -> str:
    if choice == "auto":
        return "wrk" if wrk_available() else "python"
    return str(choice)


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _start_targets(
    names: list[str], args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack, skipped: dict[str, str]
) -> tuple[Target, list[Target]]:
    """The stand-in upstream (always started) and the targets to measure (the upstream among them if named)."""
    targets: list[Target] = []
    cleanup.callback(stop_targets, targets)
    upstream = start_upstream(workdir)
    targets.append(upstream)
    if "passthrough" in names:
        targets.append(start_passthrough(upstream, workdir))
    if "node-sqlite" in names:
        sqlite_url = f"sqlite:///{workdir}/node.db"
        targets.append(start_node("node-sqlite", sqlite_url, upstream, workdir, args.balance_msat))
    if "node-postgres" in names:
        database = PostgresDatabase(args.postgres_admin_url)
        database.create()
        cleanup.callback(database.drop)
        targets.append(start_node("node-postgres", database.url, upstream, workdir, args.balance_msat))
    if args.workers > 1:
        names = names + _start_workers(names, args, workdir, cleanup, upstream, targets, skipped)
    bodies = {mode: orjson.dumps(BODIES[mode]) for mode in _csv(args.modes)}
    for target in targets:
        if target.is_node:
            price_node(target, bodies)
    return upstream, [target for target in targets if target.name in names]


def _start_workers(
    names: list[str],
    args: argparse.Namespace,
    workdir: Path,
    cleanup: contextlib.ExitStack,
    upstream: Target,
    targets: list[Target],
    skipped: dict[str, str],
) -> list[str]:
    """With --workers N: the node with WORKERS=N, and N one-worker node processes sharing one database (each target on a
    fresh database of its own); SQLite is tried and its refusal reported. Returns the names of the targets added."""
    workers = args.workers
    added: list[str] = []
    if "node-sqlite" in names:
        name = f"node-sqlite-{workers}w"
        reason = refusal(name, f"sqlite:///{workdir}/{name}.db", upstream, workdir, {"WORKERS": str(workers)})
        if reason is None:
            raise RuntimeError(f"{name}: the node served WORKERS={workers} on SQLite, which it must refuse")
        skipped[name] = f"refused by the node, skipped: {reason}"
        print(f"{name}: {skipped[name]}", flush=True)
    if "node-postgres" in names:
        for name, start in (
            (f"node-postgres-{workers}w", _start_with_workers),
            (f"node-postgres-{workers}proc", start_node_processes),
        ):
            database = PostgresDatabase(args.postgres_admin_url)
            database.create()
            cleanup.callback(database.drop)
            targets.append(start(name, database.url, upstream, workdir, args.balance_msat, workers))
            added.append(name)
    return added


def _start_with_workers(
    name: str, database_url: str, upstream: Target, workdir: Path, balance_msat: int, workers: int
) -> Target:
    return start_node(name, database_url, upstream, workdir, balance_msat, {"WORKERS": str(workers)})


def _specs(target: Target, body_file: Path, connections: int, duration_s: float) -> list[LoadSpec]:
    """One load spec per node process of the target, the connections dealt across them."""
    shares = split_connections(connections, len(target.chat_urls))  # fewer than the processes below N connections
    pairs = zip(target.chat_urls, shares, strict=False)
    return [LoadSpec(url, body_file, share, duration_s, target.api_key) for url, share in pairs]


def _measure(
    targets: list[Target], upstream: Target, args: argparse.Namespace, generator: str, workdir: Path
) -> tuple[Measured, CpuPerRequest, RssSampler]:
    measured: Measured = defaultdict(list)
    cpu: CpuPerRequest = defaultdict(list)
    upstream_pid = upstream.service.process.pid
    with RssSampler([target for target in targets if target.is_node]) as sampler:
        for mode in _csv(args.modes):
            body_file = workdir / f"{mode}.json"
            body_file.write_bytes(orjson.dumps(BODIES[mode]))
            for connections in (int(c) for c in _csv(args.concurrency)):
                specs = {t.name: _specs(t, body_file, connections, args.duration) for t in targets}
                if args.warmup > 0:
                    for target in targets:
                        _run(target, mode, _specs(target, body_file, connections, args.warmup), generator)
                for _ in range(args.runs):
                    for target in targets:  # interleaved, so drift hits every target alike
                        pids = [service.process.pid for service in target.services]
                        before = read_split(pids, upstream_pid)
                        result = _run(target, mode, specs[target.name], generator)
                        used = read_split(pids, upstream_pid) - before
                        measured[(target.name, mode, connections)].append(result)
                        cpu[(target.name, mode, connections)].append(used.per_request_us(result.requests))
    return measured, cpu, sampler


def _run(target: Target, mode: str, specs: list[LoadSpec], generator: str) -> LoadResult:
    result = run_split(specs, generator)
    if target.tracker is not None:
        connections = sum(spec.connections for spec in specs)
        target.tracker.record(mode, result.successes, connections, exact_count=generator == "python")
    return result


def _after_runs(targets: list[Target], sampler: RssSampler, generator: str, args: argparse.Namespace) -> dict[str, Any]:
    nodes = [target for target in targets if target.is_node]
    rss = {t.name: {"during_max": sampler.max_mb[t.name], "after": t.rss_mb} for t in nodes}
    accounting = {t.name: verify(t.env, t.api_key, t.tracker) for t in nodes if t.tracker is not None}
    settings = {k: v for k, v in vars(args).items() if k != "results_dir"}
    return {"settings": settings, "load_generator": generator, "rss_mb": rss, "accounting": accounting}


if __name__ == "__main__":
    raise SystemExit(main())
