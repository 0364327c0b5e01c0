"""The benchmark harness end to end in --quick mode against SQLite: a table, a JSON file, accounting that holds.

Two harness runs go side by side (wrk when installed, and the Python fallback): no timing is asserted.
"""

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest


def start_bench(results_dir: Path, generator: str, targets: str, modes: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "bench", "--quick", "--targets", targets, "--modes", modes, "--concurrency", "4"]
    argv += ["--load-generator", generator, "--results-dir", str(results_dir)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# Generous: two harness runs share the machine with the rest of the suite; a timeout kills the run, never leaks it.
BENCH_TIMEOUT_S = 300


def finish(bench: subprocess.Popen[str], results_dir: Path) -> tuple[str, dict[str, Any]]:
    output, _ = bench.communicate(timeout=BENCH_TIMEOUT_S)
    assert bench.returncode == 0, output
    [result_file] = results_dir.glob("bench-*.json")
    return output, orjson.loads(result_file.read_bytes())


def stop(*benches: subprocess.Popen[str]) -> None:
    for bench in benches:
        if bench.poll() is None:
            bench.kill()
            bench.communicate()


@pytest.mark.slow
@pytest.mark.timeout(2 * BENCH_TIMEOUT_S + 30)
def test_quick_bench_prints_a_table_and_proves_the_accounting(tmp_path: Path) -> None:
    auto_dir, fallback_dir = tmp_path / "auto", tmp_path / "fallback"
    auto = start_bench(auto_dir, "auto", "upstream,passthrough,node-sqlite", "json,sse")
    fallback = start_bench(fallback_dir, "python", "upstream,node-sqlite", "json")
    try:
        check_both(auto, auto_dir, fallback, fallback_dir)
    finally:
        stop(auto, fallback)


def check_both(
    auto: subprocess.Popen[str], auto_dir: Path, fallback: subprocess.Popen[str], fallback_dir: Path
) -> None:
    output, result = finish(auto, auto_dir)
    assert "req/s" in output and "accounting node-sqlite: PASS" in output
    check = result["accounting"]["node-sqlite"]
    assert check["ok"] and check["ledger_check_ok"] and check["reserved_msat"] == 0
    assert set(check["successes"]) == {"json", "sse"} and all(check["successes"].values())
    assert {cell["target"] for cell in result["cells"]} == {"upstream", "passthrough", "node-sqlite"}

    _, fallback_result = finish(fallback, fallback_dir)
    assert fallback_result["load_generator"] == "python"
    exact = fallback_result["accounting"]["node-sqlite"]
    assert exact["ok"] and exact["exact"] and exact["successes"]["json"] > 0
