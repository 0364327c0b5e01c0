"""Medians per target, mode and concurrency; the comparison numbers; the printed table and the JSON file."""

import os
import re
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bench.load import LoadResult

NODE_TARGETS = ("node-sqlite", "node-postgres")
# --workers N adds "node-postgres-Nw" (WORKERS=N) and "node-postgres-Nproc" (N node processes on one database)
SCALED_TARGET = re.compile(r"(?P<base>node-[a-z]+)-(?P<count>\d+)(?P<kind>w|proc)")
SCALED_RATIO = {"w": "workers_ratio", "proc": "procs_ratio"}


@dataclass(frozen=True)
class Cell:
    target: str
    mode: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    runs: list[dict[str, Any]]
    cpu_us_per_request: dict[str, float]  # medians over the runs: target, upstream, postgres, load


def summarise(
    measured: dict[tuple[str, str, int], list[LoadResult]], cpu: dict[tuple[str, str, int], list[dict[str, float]]]
) -> list[Cell]:
    cells = []
    for (target, mode, connections), runs in measured.items():
        cpu_runs = cpu.get((target, mode, connections), [])
        cells.append(
            Cell(
                target=target,
                mode=mode,
                connections=connections,
                rps=statistics.median(run.rps for run in runs),
                p50_ms=statistics.median(run.p50_ms for run in runs),
                p99_ms=statistics.median(run.p99_ms for run in runs),
                errors=sum(run.errors for run in runs),
                runs=[asdict(run) for run in runs],
                cpu_us_per_request={
                    part: statistics.median(run[part] for run in cpu_runs) for part in (cpu_runs[0] if cpu_runs else {})
                },
            )
        )
    return cells


def comparisons(cells: list[Cell]) -> dict[str, Any]:
    """Node / pass-through throughput ratio per mode and concurrency; node minus upstream p50 at c=1."""
    by_key = {(cell.target, cell.mode, cell.connections): cell for cell in cells}
    ratios: dict[str, dict[str, float]] = defaultdict(dict)
    added_p50: dict[str, dict[str, float]] = defaultdict(dict)
    for (target, mode, connections), cell in by_key.items():
        if not target.startswith("node-"):
            continue
        passthrough = by_key.get(("passthrough", mode, connections))
        if passthrough is not None and passthrough.rps:
            ratios[target][f"{mode}/c{connections}"] = round(cell.rps / passthrough.rps, 3)
        upstream = by_key.get(("upstream", mode, connections))
        if connections == 1 and upstream is not None:
            added_p50[target][mode] = round(cell.p50_ms - upstream.p50_ms, 3)
    return {"node_vs_passthrough": dict(ratios), "added_p50_ms_c1": dict(added_p50), **scaled_ratios(by_key)}


def scaled_ratios(by_key: dict[tuple[str, str, int], Cell]) -> dict[str, dict[str, float]]:
    """Throughput of N workers (or N processes) / one worker on the same database kind, same mode and concurrency;
    and the most this machine allows that ratio (`workers_bound`)."""
    found: dict[str, dict[str, float]] = {name: {} for name in (*SCALED_RATIO.values(), "workers_bound")}
    for (target, mode, connections), cell in sorted(by_key.items()):
        scaled = SCALED_TARGET.fullmatch(target)
        one = by_key.get((scaled["base"], mode, connections)) if scaled else None
        if scaled and one is not None and one.rps:
            found[SCALED_RATIO[scaled["kind"]]][f"{mode} c={connections}"] = round(cell.rps / one.rps, 3)
            bound = workers_bound(one, int(scaled["count"]), os.cpu_count() or 1) if scaled["kind"] == "w" else None
            if bound is not None:
                found["workers_bound"][f"{mode} c={connections}"] = round(bound, 3)
    return {name: ratios for name, ratios in found.items() if ratios}


def workers_bound(one: Cell, workers: int, cores: int) -> float | None:
    """The largest throughput ratio N workers can reach over one on this machine, from the one-worker run's CPU per
    request: each worker uses at most a core, and all the work of a request (the node's, the stand-in's, the
    database's, the load generator's) shares the machine's cores. Contention only lowers it further."""
    cpu = one.cpu_us_per_request
    if not cpu or not one.rps or not cpu.get("target"):
        return None
    whole_request_s = sum(cpu.values()) / 1e6
    ceiling_rps = min(cores / whole_request_s, workers / (cpu["target"] / 1e6))
    return ceiling_rps / one.rps


def table(cells: list[Cell], extra: dict[str, Any]) -> str:
    ratios = extra["comparisons"]["node_vs_passthrough"]
    lines = [
        f"{'mode':<5} {'conn':>4}  {'target':<19} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs pt':>6}"
    ]
    for cell in sorted(cells, key=lambda c: (c.mode, c.connections, _target_order(c.target))):
        ratio = ratios.get(cell.target, {}).get(f"{cell.mode}/c{cell.connections}")
        lines.append(
            f"{cell.mode:<5} {cell.connections:>4}  {cell.target:<19} {cell.rps:>9.0f} {cell.p50_ms:>8.2f} "
            f"{cell.p99_ms:>8.2f} {cell.errors:>7} {'' if ratio is None else f'{ratio:.2f}x':>6}"
        )
    for target, added in extra["comparisons"]["added_p50_ms_c1"].items():
        lines.append(f"added p50 at c=1, {target}: " + ", ".join(f"{m} {v:.2f} ms" for m, v in added.items()))
    for name in (*SCALED_RATIO.values(), "workers_bound"):
        lines.extend(f"{name} {cell}: {ratio:.2f}x" for cell, ratio in extra["comparisons"].get(name, {}).items())
    for cell in sorted(cells, key=lambda c: (c.mode, c.connections, _target_order(c.target))):
        if cell.target.startswith("node-") and cell.cpu_us_per_request:
            cpu = cell.cpu_us_per_request
            lines.append(
                f"cpu us/request {cell.mode} c={cell.connections} {cell.target}: node {cpu['target']:.0f}, "
                f"stand-in {cpu['upstream']:.0f}, postgres {cpu['postgres']:.0f}, load {cpu['load']:.0f}"
            )
    for target, reason in extra.get("skipped", {}).items():
        lines.append(f"{target}: {reason}")
    for target, rss in extra["rss_mb"].items():
        lines.append(f"RSS {target}: max during {rss['during_max']:.0f} MB, after {rss['after']:.0f} MB")
    for target, check in extra["accounting"].items():
        lines.append(f"accounting {target}: {'PASS' if check['ok'] else 'FAIL'} ({check['summary']})")
    return "\n".join(lines)


def _target_order(target: str) -> float:
    order = ("upstream", "passthrough", *NODE_TARGETS)
    scaled = SCALED_TARGET.fullmatch(target)
    if scaled and scaled["base"] in order:  # right after its one-worker base, workers before processes
        return order.index(scaled["base"]) + (0.1 if scaled["kind"] == "w" else 0.2)
    return order.index(target) if target in order else len(order)


def write_json(path: Path, cells: list[Cell], extra: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"cells": [asdict(cell) for cell in cells], **extra}
    path.write_bytes(orjson.dumps(payload, option=orjson.OPT_INDENT_2))
