"""`python -m app discover [--json]`: list the providers announced on the relays."""

import asyncio
import json
import sys
from collections.abc import Sequence

from app.nostr.discovery import NoRelayAnswered, Provider, discover

_COLUMNS = ("NAME", "NPUB", "D", "ENDPOINT", "MODELS", "CHEAPEST sat/tok", "UP")
_NAME_WIDTH = 28


def _row(provider: Provider) -> tuple[str, ...]:
    probe = provider.probe
    price = "-" if probe.cheapest_completion_sats is None else f"{probe.cheapest_completion_sats:.6g}"
    endpoint = probe.endpoint or (provider.urls[0] if provider.urls else "-")
    name = provider.name if len(provider.name) <= _NAME_WIDTH else provider.name[: _NAME_WIDTH - 1] + "…"
    return (
        name,
        provider.npub[:16] + "…",
        provider.d,
        endpoint,
        str(len(probe.models)),
        price,
        "yes" if probe.reachable else "no",
    )


def format_table(providers: Sequence[Provider]) -> str:
    """Plain-text columns, cheapest reachable first; "no providers found" when empty."""
    if not providers:
        return "no providers found"
    ordered = sorted(providers, key=_rank)
    rows = [_COLUMNS, *(_row(p) for p in ordered)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _rank(provider: Provider) -> tuple[bool, float, str]:
    price = provider.probe.cheapest_completion_sats
    return (not provider.probe.reachable, float("inf") if price is None else price, provider.name.lower())


def run_discover_cli(relays: Sequence[str], as_json: bool, *, timeout: float = 5.0) -> int:
    """Print the providers (table or JSON list) to stdout; exit status 0, 1 when no relay answered (an empty list
    would look like a quiet network), or 2 when no relay list is given."""
    if not relays:
        print("no relays configured (set RELAYS)", file=sys.stderr)
        return 2
    try:
        providers = asyncio.run(discover(relays, timeout=timeout))
    except NoRelayAnswered as silent:
        print(f"discover: {silent}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps([p.to_json() for p in providers], indent=2, ensure_ascii=False))
    else:
        print(format_table(providers))
    return 0
