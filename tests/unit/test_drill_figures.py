"""The fault drill's figures, read from checkouts (pure: no shop): when the shop recovered, the
timeline it is read from, and approvals against the no-fault run."""

from __future__ import annotations

from bench.checkout import EXPECTED, Checkout
from bench.drill import completions_per_s, recovery_s, with_relative_approvals

START = 1_000.0


def ended(kind: str, at: float, outcome: tuple[str, str | None] | None = None) -> Checkout:
    return Checkout(
        kind, started_at=START, order_id="o", ended_at=at, outcome=outcome or EXPECTED[kind]
    )


def steady(rate_per_s: float, start: float, end: float, kind: str = "approved") -> list[Checkout]:
    count = int((end - start) * rate_per_s)
    return [ended(kind, start + n / rate_per_s) for n in range(count)]


def test_a_shop_completing_at_the_arrival_rate_at_once_recovered_in_no_time():
    checkouts = steady(2.0, START, START + 30)

    assert recovery_s(checkouts, START + 10, rate_per_s=2.0) == 0.0


def test_at_a_rate_that_is_no_whole_number_per_window_a_steady_shop_has_recovered():
    checkouts = steady(2.5, START, START + 30)  # 12 or 13 in every 5 s window

    assert recovery_s(checkouts, START + 10.2, rate_per_s=2.5) == 0.0


def test_recovery_runs_to_the_first_window_completing_at_the_arrival_rate():
    stalled_until = START + 20
    checkouts = steady(2.0, START, START + 10) + steady(2.0, stalled_until, START + 40)

    assert recovery_s(checkouts, START + 12, rate_per_s=2.0) == 8.0


def test_orders_rejected_when_they_should_have_been_approved_are_not_a_recovery():
    timed_out = [ended("approved", START + n / 4, ("OrderRejected", "TIMEOUT")) for n in range(40)]
    checkouts = timed_out + steady(2.0, START + 15, START + 30)

    assert recovery_s(checkouts, START, rate_per_s=2.0) == 15.0


def test_a_shop_that_never_completes_at_the_arrival_rate_again_has_no_recovery():
    checkouts = steady(2.0, START, START + 10) + steady(1.0, START + 10, START + 40)

    assert recovery_s(checkouts, START + 10, rate_per_s=2.0) is None


def test_the_timeline_counts_checkouts_that_ended_as_their_kind_per_second():
    checkouts = [
        ended("approved", START + 0.2),
        ended("declined", START + 0.9),
        ended("approved", START + 2.5),
        ended("approved", START + 2.6, ("OrderRejected", "TIMEOUT")),
    ]

    assert completions_per_s(checkouts, START) == [2, 0, 1]


def test_approvals_are_read_against_the_no_fault_run_at_the_same_rate():
    runs = with_relative_approvals(
        [
            {"fault": "none", "rate_per_s": 2.0, "approved_fraction": 1.0},
            {"fault": "kafka", "rate_per_s": 2.0, "approved_fraction": 0.5},
            {"fault": "none", "rate_per_s": 4.0, "approved_fraction": 0.8},
            {"fault": "kafka", "rate_per_s": 4.0, "approved_fraction": 0.4},
        ]
    )

    assert [run["approved_vs_no_fault"] for run in runs] == [1.0, 0.5, 1.0, 0.5]
