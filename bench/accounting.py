"""After the runs: was the node's accounting real? spent == successful requests x per-request cost."""

from dataclasses import dataclass, field
from typing import Any

from bench.node import ledger_check, show_key


@dataclass
class SpendTracker:
    """What one node target was asked to do, counted from the load generator's own output."""

    spent_before_msat: int
    costs_msat: dict[str, int]
    successes: dict[str, int] = field(default_factory=dict)
    inflight_bound: int = 0  # requests wrk may have left in flight at its cutoff (charged, yet never counted)

    def record(self, mode: str, successes: int, connections: int, exact_count: bool) -> None:
        self.successes[mode] = self.successes.get(mode, 0) + successes
        if not exact_count:
            self.inflight_bound += connections

    @property
    def expected_msat(self) -> int:
        return sum(count * self.costs_msat[mode] for mode, count in self.successes.items())


def verify(env: dict[str, str], key: str, tracker: SpendTracker) -> dict[str, Any]:
    shown = show_key(env, key)
    spent = int(shown["spent_msat"]) - tracker.spent_before_msat
    extra = spent - tracker.expected_msat
    ledger_ok, ledger_output = ledger_check(env)
    max_cost = max(tracker.costs_msat.values())
    within_cutoff = 0 <= extra <= tracker.inflight_bound * max_cost
    settled = int(shown["reserved_msat"]) == 0
    requests = sum(tracker.successes.values())
    summary = f"spent {spent} msat for {requests} ok requests at {tracker.costs_msat} msat each"
    if extra:
        summary += f"; {extra:+} msat beyond that (bound for requests cut off in flight: {tracker.inflight_bound})"
    summary += f"; reserved left {shown['reserved_msat']}; ledger check {'ok' if ledger_ok else 'FAILED'}"
    return {
        "ok": ledger_ok and settled and within_cutoff,
        "exact": extra == 0,
        "spent_msat": spent,
        "expected_msat": tracker.expected_msat,
        "successes": tracker.successes,
        "costs_msat": tracker.costs_msat,
        "extra_msat": extra,
        "inflight_bound_requests": tracker.inflight_bound,
        "reserved_msat": shown["reserved_msat"],
        "ledger_check_ok": ledger_ok,
        "ledger_check_output": ledger_output if not ledger_ok else "",
        "summary": summary,
    }
