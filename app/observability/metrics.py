"""Prometheus metrics of one node process, in a registry of its own.

Everything on the request path is a counter, a gauge or a histogram bucket in memory: no database round trip, no
I/O. Health (the last answer of each mint, relay and the upstream) is read only when Prometheus scrapes, from the
sources the lifespan registers. Each worker process keeps its own numbers (see README: Metrics, logs, readiness)."""

import os
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# name -> wall-clock time (s) of its last good answer
LastOk = Callable[[], Mapping[str, float]]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "routstr_http_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "routstr_http_request_duration_seconds", "From request to the end of its reply (streams: their end)",
            ["route"], buckets=LATENCY_BUCKETS_S, registry=r,
        )  # fmt: skip
        self._tokens = Counter(
            "routstr_tokens", "Tokens metered, by model and direction (in/out)", ["model", "direction"], registry=r
        )
        self._charged = Counter("routstr_charged_msat", "msat charged for LLM calls, by model", ["model"], registry=r)
        self._reserve_failures = Counter(
            "routstr_reserve_failures", "Requests refused for an insufficient balance (402)", registry=r
        )
        self._upstream_errors = Counter(
            "routstr_upstream_errors", "Upstream failures by kind (error code)", ["kind"], registry=r
        )
        self._errors = Counter("routstr_errors", "Error replies by code", ["code"], registry=r)
        self._failed_tries = Counter(
            "routstr_upstream_failed_tries", "Tries at an upstream that failed (failed over when before output)",
            ["upstream", "failure"], registry=r,
        )  # fmt: skip
        self.open_streams = Gauge("routstr_open_streams", "Streamed replies being sent now", registry=r)
        self._health = _HealthCollector()
        r.register(self._health)
        Gauge("routstr_process_id", "This worker's process id (metrics are per worker)", registry=r).set(os.getpid())
        self._children: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._per_model: dict[str, tuple[Counter, Counter, Counter]] = {}

    def request_done(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, str(status))
        children = self._children.get(key)
        if children is None:  # labels() takes a lock and builds a tuple: done once per route, method and status
            children = self._children[key] = (self._requests.labels(*key), self._latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def error(self, code: str, upstream: bool) -> None:
        self._errors.labels(code).inc()
        if code == "insufficient_balance":
            self._reserve_failures.inc()
        if upstream:
            self._upstream_errors.labels(code).inc()

    def upstream_try_failed(self, upstream: str, failure: str) -> None:
        self._failed_tries.labels(upstream, failure).inc()

    def charged(self, model: str, prompt_tokens: int, completion_tokens: int, msat: int) -> None:
        children = self._per_model.get(model)
        if children is None:
            children = self._per_model[model] = (
                self._tokens.labels(model, "in"), self._tokens.labels(model, "out"), self._charged.labels(model)
            )  # fmt: skip
        children[0].inc(prompt_tokens)
        children[1].inc(completion_tokens)
        children[2].inc(msat)

    def watch(self, metric: str, help_text: str, label: str, source: LastOk) -> None:
        """Report `source()` at each scrape as `metric{label=name}` = time of the last good answer."""
        self._health.sources.append((metric, help_text, label, source))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _HealthCollector(Collector):
    def __init__(self) -> None:
        self.sources: list[tuple[str, str, str, LastOk]] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for metric, help_text, label, source in self.sources:
            family = GaugeMetricFamily(metric, help_text, labels=[label])
            for name, at in sorted(source().items()):
                family.add_metric([name], at)
            yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
