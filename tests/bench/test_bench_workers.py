"""`python -m bench --workers 2` end to end, about 1 s per run: the one-worker nodes, the node with WORKERS=2 and two
node processes on one PostgreSQL in one table, the ratio lines, SQLite's refusal, and every node's books exact.

No timing is asserted: the machine is shared, the figures are the lead's to take on a quiet one.
"""

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from bench.load import split_connections

BENCH_TIMEOUT_S = 150
NODES = {"node-sqlite", "node-postgres", "node-postgres-2w", "node-postgres-2proc"}


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 30)
def test_two_workers_and_two_processes_beside_one_worker_with_exact_books(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench", "--quick", "--workers", "2", "--targets", "node-sqlite,node-postgres"]
    argv += ["--modes", "json", "--concurrency", "64", "--load-generator", "python", "--results-dir", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=BENCH_TIMEOUT_S, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output

    assert re.search(r"^workers_ratio json c=64: \d+\.\d\dx$", output, re.MULTILINE), output
    assert re.search(r"^procs_ratio json c=64: \d+\.\d\dx$", output, re.MULTILINE), output
    assert "node-sqlite-2w: refused by the node, skipped: configuration error: WORKERS>1 needs PostgreSQL" in output
    for name in NODES:
        assert f"accounting {name}: PASS" in output, output

    [result_file] = tmp_path.glob("bench-*.json")
    result = orjson.loads(result_file.read_bytes())
    assert {cell["target"] for cell in result["cells"]} == NODES
    assert set(result["accounting"]) == NODES
    for name, check in result["accounting"].items():
        assert check["exact"] and check["reserved_msat"] == 0 and check["ledger_check_ok"], name
        assert check["successes"]["json"] > 0 and check["spent_msat"] == check["expected_msat"], name
    assert set(result["comparisons"]["workers_ratio"]) == {"json c=64"}
    assert "node-sqlite-2w" in result["skipped"]


def test_the_connections_are_dealt_across_the_node_processes() -> None:
    assert split_connections(64, 2) == [32, 32]
    assert split_connections(5, 2) == [3, 2]
    assert split_connections(1, 2) == [1]  # one connection loads one process; the other gets no generator
