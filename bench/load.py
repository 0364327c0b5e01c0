"""One load run against one URL: wrk with bench/wrk_post.lua, or the Python fallback, parsed the same way."""

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson

WRK_SCRIPT = Path(__file__).with_name("wrk_post.lua")
RESULT_PREFIX = "BENCH_RESULT "


@dataclass(frozen=True)
class LoadResult:
    requests: int
    duration_s: float
    non2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def successes(self) -> int:
        return self.requests - self.non2xx

    @property
    def errors(self) -> int:
        return self.non2xx + self.socket_errors

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0


@dataclass(frozen=True)
class LoadSpec:
    url: str
    body_file: Path
    connections: int
    duration_s: float
    api_key: str = ""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(spec: LoadSpec, generator: str) -> LoadResult:
    """generator: "wrk" or "python"."""
    argv = _wrk_argv(spec) if generator == "wrk" else _python_argv(spec)
    env = {**os.environ, "BENCH_BODY_FILE": str(spec.body_file), "BENCH_API_KEY": spec.api_key}
    timeout = spec.duration_s + 60
    completed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return parse_result(completed.stdout, completed.stderr)


def _wrk_argv(spec: LoadSpec) -> list[str]:
    seconds = max(1, round(spec.duration_s))
    return [
        "wrk",
        "-t1",
        f"-c{spec.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        spec.url,
    ]


def _python_argv(spec: LoadSpec) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.pyload",
        "--url",
        spec.url,
        "--connections",
        str(spec.connections),
        "--duration",
        str(spec.duration_s),
        "--body-file",
        str(spec.body_file),
    ]


def parse_result(stdout: str, stderr: str) -> LoadResult:
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            raw = orjson.loads(line[len(RESULT_PREFIX) :])
            return LoadResult(
                requests=raw["requests"],
                duration_s=raw["duration_us"] / 1e6,
                non2xx=raw["non2xx"],
                socket_errors=raw["socket_errors"],
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
            )
    raise RuntimeError(f"load generator gave no result: {stdout[-500:]} {stderr[-500:]}")


def run_split(specs: list[LoadSpec], generator: str) -> LoadResult:
    """One load generator per spec (one per node process), all at once; their results summed into one.

    Requests and errors add up, the duration is the longest; the two latencies are the worst of the generators',
    an upper bound, since percentiles of parts do not combine into the percentile of the whole.
    """
    if len(specs) == 1:
        return run_load(specs[0], generator)
    with ThreadPoolExecutor(max_workers=len(specs)) as pool:
        results = list(pool.map(lambda spec: run_load(spec, generator), specs))
    return LoadResult(
        requests=sum(result.requests for result in results),
        duration_s=max(result.duration_s for result in results),
        non2xx=sum(result.non2xx for result in results),
        socket_errors=sum(result.socket_errors for result in results),
        p50_ms=max(result.p50_ms for result in results),
        p99_ms=max(result.p99_ms for result in results),
    )


def split_connections(connections: int, parts: int) -> list[int]:
    """`connections` dealt across `parts` generators as evenly as they go; parts left with none are dropped."""
    shares = [connections // parts + (1 if index < connections % parts else 0) for index in range(parts)]
    return [share for share in shares if share]
