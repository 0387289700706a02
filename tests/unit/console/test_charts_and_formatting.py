"""The overview's checkout chart and per-minute buckets, and how durations and times read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.charts import HEIGHT, PAD, checkout_chart
from console.rendering import format_age, format_ms, format_time
from shopctl.sagas import bucket_by_minute

SINCE = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def saga(minute: int, second: int, took_ms: float, state: str = "COMPLETED"):
    created = SINCE + timedelta(minutes=minute, seconds=second)
    return created, created + timedelta(milliseconds=took_ms), state


def test_checkouts_are_counted_in_the_minute_they_started_with_the_median_of_those_that_ended():
    minutes = bucket_by_minute(
        [
            saga(0, 5, 100),
            saga(0, 50, 300),
            saga(0, 59, 9999, state="RUNNING"),
            saga(2, 0, 200, state="ABORTED"),
            saga(20, 0, 1),  # outside the window
        ],
        since=SINCE,
        minutes=3,
    )
    assert [(m.minute.minute, m.started, m.finished, m.p50_ms) for m in minutes] == [
        (0, 3, 2, 200.0),
        (1, 0, 0, None),
        (2, 1, 1, 200.0),
    ]


def test_the_chart_scales_bars_to_the_busiest_minute_and_skips_minutes_without_a_latency():
    minutes = bucket_by_minute(
        [saga(0, 1, 100), saga(0, 2, 100), saga(1, 1, 400)], since=SINCE, minutes=3
    )
    chart = checkout_chart(minutes)
    tallest = HEIGHT - 2 * PAD
    assert [bar.height for bar in chart.bars] == [tallest, tallest / 2, 0]
    assert chart.total == 3 and chart.max_count == 2 and chart.max_latency_ms == 400
    assert len(chart.latency_points.split()) == 2
    assert chart.bars[1].label == "10:01: 1 started, 1 ended, median 400 ms"


def test_an_empty_window_draws_an_empty_chart():
    chart = checkout_chart(bucket_by_minute([], since=SINCE, minutes=15))
    assert chart.total == 0 and chart.latency_points == ""
    assert all(bar.height == 0 for bar in chart.bars)


def test_durations_and_times_read_as_people_read_them():
    assert [format_ms(v) for v in (0.25, 12.34, 250, 4200, 185_000, None)] == [
        "250 µs",
        "12.3 ms",
        "250 ms",
        "4.2 s",
        "3 min 5 s",
        "-",
    ]
    assert format_time(SINCE + timedelta(microseconds=1500)) == "2026-11-22 10:00:00.001Z"
    assert format_age(SINCE, now=SINCE + timedelta(seconds=3)) == "3.0 s ago"
    assert format_age(SINCE + timedelta(seconds=8), now=SINCE) == "in 8.0 s"
