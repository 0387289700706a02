"""The overview's small chart, drawn as SVG on the server (no chart library in the browser):
checkouts started per minute as bars, their median latency as a line. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from shopctl.sagas import MinuteOfCheckouts

WIDTH = 600
HEIGHT = 140
PAD = 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    latency_points: str
    """SVG polyline points of the median latency (minutes without a finished checkout skipped)."""
    max_count: int
    max_latency_ms: float
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    pad: int = PAD


def checkout_chart(minutes: list[MinuteOfCheckouts]) -> Chart:
    slots = max(len(minutes), 1)
    slot = (WIDTH - 2 * PAD) / slots
    plot = HEIGHT - 2 * PAD
    max_count = max((m.started for m in minutes), default=0)
    max_latency = max((m.p50_ms or 0 for m in minutes), default=0.0)
    bars, points = [], []
    for index, minute in enumerate(minutes):
        height = plot * minute.started / max_count if max_count else 0
        x = PAD + index * slot
        bars.append(
            Bar(
                round(x + slot * 0.1, 1),
                round(HEIGHT - PAD - height, 1),
                round(slot * 0.8, 1),
                round(height, 1),
                f"{minute.minute:%H:%M}: {minute.started} started, {minute.finished} ended"
                + (f", median {minute.p50_ms:.0f} ms" if minute.p50_ms is not None else ""),
            )
        )
        if minute.p50_ms is not None and max_latency:
            y = HEIGHT - PAD - plot * minute.p50_ms / max_latency
            points.append(f"{x + slot / 2:.1f},{y:.1f}")
    return Chart(bars, " ".join(points), max_count, max_latency, sum(m.started for m in minutes))
