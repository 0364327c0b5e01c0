"""`python -m bench.streams`: thousands of long streams held open at once, through the node and through the bare
pass-through in the same run (the load an LLM proxy really sees: streams of seconds to minutes, not instant replies).

For each stream count and target: completed, errors, wall time, the gap between two chunks of one stream (p50/p99),
the target's peak RSS and its CPU seconds per 1,000 chunks; for the node also the accounting check (every completed
stream charged its probe cost, nothing left reserved, ledger check clean). See bench/README.md.
"""

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from app.http_server import SOMAXCONN
from bench.accounting import verify
from bench.cpu import read_split
from bench.services import PostgresDatabase
from bench.stream_load import raise_fd_limit
from bench.targets import RssSampler, Target, price_node, start_node, start_passthrough, start_upstream, stop_targets

NODE_TARGETS = ("node-sqlite", "node-postgres")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.streams", description=__doc__)
    parser.add_argument(
        "--streams", default="1000", help="comma list of concurrent stream counts, e.g. 1000,5000,10000"
    )
    parser.add_argument("--chunks", type=int, default=40, help="chunks per stream")
    parser.add_argument("--delay-ms", type=int, default=100, help="delay between two chunks at the upstream")
    parser.add_argument("--ramp-s", type=float, default=2.0, help="open the streams over this many seconds")
    parser.add_argument("--targets", default="passthrough,node-sqlite", help="passthrough, node-sqlite, node-postgres")
    parser.add_argument(
        "--passthrough-pool",
        type=int,
        default=1024,
        help="the pass-through's upstream connection cap; 0: none (one connection per stream, as the node)",
    )
    parser.add_argument("--postgres-admin-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--balance-msat", type=int, default=10**13)
    return parser.parse_args(argv)


LISTEN_BACKLOG = 16384
BACKLOG_SETTINGS = (SOMAXCONN, Path("/proc/sys/net/ipv4/tcp_max_syn_backlog"))


@contextlib.contextmanager
def listen_backlog(wanted: int = LISTEN_BACKLOG) -> Iterator[str]:
    """The kernel's cap on connections waiting to be accepted, raised to `wanted` for the run where allowed (root)
    and put back after: what README (Scaling out) asks of an operator whose node takes thousands of new streams a
    second. Without it a burst past the cap (4096 by default) is dropped or reset for every target alike. Yields what
    is in force, for the report."""
    before = {path: path.read_text().strip() for path in BACKLOG_SETTINGS if path.exists()}
    raised = {}
    for path, value in before.items():
        if int(value) < wanted:
            with contextlib.suppress(OSError):
                path.write_text(str(wanted))
                raised[path] = value
    try:
        yield ", ".join(f"{path.name} {path.read_text().strip()}" for path in before) or "unknown"
    finally:
        for path, value in raised.items():
            path.write_text(value)


def body_for(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "model": "standin-small",
        "messages": [{"role": "user", "content": "Stream to the benchmark"}],
        "stream": True,
        "standin": {"chunks": args.chunks, "delay_ms": args.delay_ms},
    }


def run_streams(
    target: Target, upstream: Target, body: bytes, streams: int, ramp_s: float, workdir: Path
) -> dict[str, Any]:
    """One run of `streams` streams through `target`. Besides what the load side measures: the target's peak RSS and
    CPU per 1,000 chunks, and how busy each process was (CPU seconds over the wall time, 100 = one core): the target,
    the stand-in upstream and the load client share the machine, so a run where they add up to every core is
    saturated, and its gaps measure the machine as much as the target."""
    out = workdir / f"{target.name}-{streams}.json"
    command = [sys.executable, "-m", "bench.stream_load", "--url", target.chat_url, "--body", body.decode(),
               "--key", target.api_key, "--streams", str(streams), "--ramp-s", str(ramp_s),
               "--out", str(out)]  # fmt: skip
    pids = [target.service.process.pid]
    before = read_split(pids, upstream.service.process.pid)
    with RssSampler([target], interval_s=0.25) as sampler:
        subprocess.run(command, check=True, timeout=1800)
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    used = read_split(pids, upstream.service.process.pid) - before
    result["peak_rss_mb"] = round(sampler.max_mb[target.name], 1)
    result["cpu_s_per_1k_chunks"] = round(1000 * used.target / max(1, result["events"]), 3)
    busy = {"target": used.target, "upstream": used.upstream, "client": used.load}
    result["busy_pct"] = {name: round(100 * seconds / result["wall_s"]) for name, seconds in busy.items()}
    result["chunks_per_s"] = round(result["events"] / result["wall_s"])
    return result


def _start(
    names: list[str], args: argparse.Namespace, workdir: Path, cleanup: contextlib.ExitStack
) -> tuple[Target, list[Target]]:
    upstream = start_upstream(workdir)
    started = [upstream]
    cleanup.callback(stop_targets, started)
    for name in names:
        if name == "passthrough":
            started.append(start_passthrough(upstream, workdir, args.passthrough_pool))
            continue
        url = f"sqlite:///{workdir}/bench-streams.db"
        if name == "node-postgres":
            database = PostgresDatabase(args.postgres_admin_url)
            database.create()
            cleanup.callback(database.drop)
            url = database.url
        started.append(start_node(name, url, upstream, workdir, args.balance_msat))
    return upstream, started[1:]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_fd_limit()  # inherited by every process started below
    with listen_backlog() as backlog:
        print(f"kernel listen backlog: {backlog}", flush=True)
        return _run_all(args)


def _run_all(args: argparse.Namespace) -> int:
    body = orjson.dumps(body_for(args))
    rows: list[tuple[str, int, dict[str, Any]]] = []
    checks: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="routstr-streams-") as tmp, contextlib.ExitStack() as cleanup:
        workdir = Path(tmp)
        upstream, targets = _start([n.strip() for n in args.targets.split(",") if n.strip()], args, workdir, cleanup)
        for target in targets:
            if target.is_node:
                price_node(target, {"sse": body})
        for streams in (int(n) for n in args.streams.split(",")):
            for target in targets:
                result = run_streams(target, upstream, body, streams, args.ramp_s, workdir)
                rows.append((target.name, streams, result))
                if target.tracker is not None:
                    target.tracker.record("sse", result["completed"], streams, exact_count=True)
        for target in targets:
            if target.tracker is not None:
                checks[target.name] = verify(target.env, target.api_key, target.tracker)
    print(table(rows))
    print(f"demand: {demand_per_s(args, rows)} chunks/s while every stream is open ({args.chunks} chunks, "
          f"{args.delay_ms} ms apart); busy: CPU seconds / wall, 100 = one core of {os.cpu_count()}")  # fmt: skip
    for name, check in checks.items():
        print(f"accounting {name}: {'ok' if check['ok'] else 'FAILED'} ({check['summary']})")
    return 0 if all(check["ok"] for check in checks.values()) else 1


def demand_per_s(args: argparse.Namespace, rows: list[tuple[str, int, dict[str, Any]]]) -> str:
    """Chunks a second the load asks for at each stream count once every stream is open."""
    counts = sorted({streams for _, streams, _ in rows})
    return ", ".join(f"{streams * 1000 // args.delay_ms:,} at {streams:,}" for streams in counts)


def table(rows: list[tuple[str, int, dict[str, Any]]]) -> str:
    head = f"{'target':<18}{'streams':>8}{'done':>7}{'errors':>8}{'wall s':>8}{'gap p50':>9}{'gap p99':>9}"
    head += f"{'steady p99':>11}{'1st p99':>9}{'RSS MB':>8}{'CPU s/1k':>9}{'chunks/s':>9}"
    head += "  busy % tgt/up/client  error kinds"
    lines = [head]
    for name, streams, r in rows:
        errors = sum(r["errors"].values())
        gaps, steady, busy = r["gaps_ms"], r["gaps_after_ramp_ms"], r["busy_pct"]
        lines.append(
            f"{name:<18}{streams:>8}{r['completed']:>7}{errors:>8}{r['wall_s']:>8.1f}{gaps['p50']:>9.1f}"
            f"{gaps['p99']:>9.1f}{steady['p99']:>11.1f}{r['first_event_ms']['p99']:>9.0f}{r['peak_rss_mb']:>8.1f}{r['cpu_s_per_1k_chunks']:>9.3f}"
            f"{r['chunks_per_s']:>9}  {busy['target']:>3} / {busy['upstream']:>3} / {busy['client']:>3}"
            f"{'':>10}{r['errors'] or ''}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
