"""CPU seconds used by the benchmark's processes, read from /proc: a target's process tree, PostgreSQL's server
processes (all of them: the server is shared, so other databases' work counts too) and the load generators (the
children this process has waited for). On a machine where the load, the stand-in and the database share the cores
with the target, this is what tells a saturated machine from a slow target."""

import os
import resource
from dataclasses import dataclass
from pathlib import Path

from bench.services import _process_tree

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


def tree_seconds(pid: int) -> float:
    return sum(_seconds(member) for member in _process_tree(pid))


def postgres_seconds() -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name = (entry / "comm").read_text().strip()
            except OSError:
                continue
            if name == "postgres":
                total += _seconds(int(entry.name))
    return total


def children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSplit:
    """CPU seconds per part of the machine's work, between two readings."""

    target: float
    upstream: float
    postgres: float
    load: float

    def __sub__(self, earlier: "CpuSplit") -> "CpuSplit":
        return CpuSplit(
            self.target - earlier.target,
            self.upstream - earlier.upstream,
            self.postgres - earlier.postgres,
            self.load - earlier.load,
        )

    def per_request_us(self, requests: int) -> dict[str, float]:
        scale = 1e6 / max(1, requests)
        parts = {"target": self.target, "upstream": self.upstream, "postgres": self.postgres, "load": self.load}
        return {name: round(seconds * scale, 1) for name, seconds in parts.items()}


def read_split(target_pids: list[int], upstream_pid: int) -> CpuSplit:
    return CpuSplit(
        target=sum(tree_seconds(pid) for pid in target_pids),
        upstream=tree_seconds(upstream_pid),
        postgres=postgres_seconds(),
        load=children_seconds(),
    )
