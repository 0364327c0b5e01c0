"""Usage per model over time as an inline SVG line chart, drawn on the server (no JavaScript)."""

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT, PAD = 640, 200, 36
COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563")


def usage_chart(rows: Sequence[dict[str, Any]], metric: str, since: int, bucket_s: int, now: int) -> str:
    """One line per model of `metric` ("requests" or "msat") per bucket from `since` to `now`."""
    buckets = list(range(since // bucket_s * bucket_s, now + 1, bucket_s))
    series: dict[str, dict[int, int]] = {}
    for row in rows:
        series.setdefault(str(row["model"]), {})[int(row["bucket_start"])] = int(row[metric])
    top = max((v for points in series.values() for v in points.values()), default=0) or 1
    lines = [_polyline(points, buckets, top, COLOURS[n % len(COLOURS)]) for n, points in enumerate(series.values())]
    legend = [_legend(n, model) for n, model in enumerate(series)]
    return (
        f'<svg class="chart" role="img" aria-label="{escape(metric)} per model" viewBox="0 0 {WIDTH} {HEIGHT}"'
        f' width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="{PAD}" y="8" width="{WIDTH - 2 * PAD}" height="{HEIGHT - PAD - 8}" fill="#f8fafc" stroke="#cbd5e1"/>'
        f'<text x="4" y="16" font-size="11">{top}</text><text x="4" y="{HEIGHT - PAD}" font-size="11">0</text>'
        f'<text x="{PAD}" y="{HEIGHT - PAD + 14}" font-size="11">-{(now - since) // 3600} h</text>'
        f'<text x="{WIDTH - PAD - 20}" y="{HEIGHT - PAD + 14}" font-size="11">now</text>'
        f'<text x="{WIDTH // 2 - 60}" y="{HEIGHT - 8}" font-size="11">{escape(metric)} per {bucket_s // 60} min</text>'
        + "".join(lines)
        + "".join(legend)
        + "</svg>"
    )


def _x(index: int, count: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (index / max(count - 1, 1))


def _y(value: int, top: int) -> float:
    return HEIGHT - PAD - (HEIGHT - PAD - 16) * value / top


def _polyline(points: dict[int, int], buckets: list[int], top: int, colour: str) -> str:
    coords = " ".join(f"{_x(i, len(buckets)):.1f},{_y(points.get(b, 0), top):.1f}" for i, b in enumerate(buckets))
    return f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'


def _legend(index: int, model: str) -> str:
    x = WIDTH - PAD - 150
    y = 24 + 14 * index
    colour = COLOURS[index % len(COLOURS)]
    swatch = f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>'
    return f'{swatch}<text x="{x + 14}" y="{y}" font-size="11">{escape(model)}</text>'
