"""Rendering helpers shared by the console's pages: templates and the filters they use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import render_template


def render(template: str, **context: Any) -> str:
    return render_template(template, **context)


def format_ms(value: float | None) -> str:
    """A duration in milliseconds as people read it: 850 µs, 12.3 ms, 4.2 s, 3 min 5 s."""
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} µs"
    if value < 100:
        return f"{value:.1f} ms"
    if value < 1000:
        return f"{value:.0f} ms"
    seconds = value / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def format_duration(span: timedelta | None) -> str:
    return "-" if span is None else format_ms(span.total_seconds() * 1000)


def format_time(moment: datetime | None) -> str:
    """UTC, to the millisecond (saga steps are often milliseconds apart)."""
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def format_age(moment: datetime | None, now: datetime | None = None) -> str:
    """How long ago (or, for a future moment such as a deadline, in how long)."""
    if moment is None:
        return "-"
    delta = (now or datetime.now(UTC)) - moment
    text = format_duration(abs(delta))
    return f"{text} ago" if delta >= timedelta(0) else f"in {text}"


def format_micros_time(epoch_us: int | None) -> str:
    """Jaeger's timestamps (microseconds since the epoch) as UTC times."""
    if epoch_us is None:
        return "-"
    return format_time(datetime.fromtimestamp(epoch_us / 1_000_000, UTC))


def bytes_text(value: bytes | None) -> str:
    return (value or b"").decode(errors="replace")


FILTERS = {
    "text": bytes_text,
    "micros_time": format_micros_time,
    "ms": format_ms,
    "duration": format_duration,
    "time": format_time,
    "age": format_age,
}
