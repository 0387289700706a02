"""How an operator's text (a console form, a query string) becomes a saga filter, and what is
refused with a one-line reason. Building the filter touches no server."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from shopctl.sagas import SagaFilter, SagaOperationFailed, filter_from_text, parse_duration


def text(**given: str) -> dict[str, str]:
    return {
        "saga_type": "",
        "state": "",
        "older_than": "",
        "order_id": "",
        "customer_id": "",
        **given,
    }


def test_blanks_mean_any_and_the_rest_is_trimmed():
    assert filter_from_text(**text()) == SagaFilter()
    chosen = filter_from_text(
        **text(saga_type="checkout", state="RUNNING", older_than="10m", customer_id=" ann ")
    )
    assert chosen == SagaFilter("checkout", "RUNNING", timedelta(minutes=10), None, "ann")
    assert chosen.describe() == "type=checkout state=RUNNING older-than=10m customer=ann"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"saga_type": "refund"}, "no saga type 'refund'; known: cancellation, checkout"),
        ({"state": "STUCK"}, "no saga state 'STUCK'"),
        ({"older_than": "ten minutes"}, "is not a duration like 30s, 10m, 2h or 1d"),
        ({"order_id": "x" * 201}, "printable text up to 200 characters"),
        ({"customer_id": "a" + chr(0) + "b"}, "printable text"),
    ],
)
def test_what_no_saga_could_match_is_refused_saying_why(given, reason):
    with pytest.raises(SagaOperationFailed, match=re.escape(reason)):
        filter_from_text(**text(**given))


def test_durations_in_seconds_minutes_hours_and_days():
    assert [parse_duration(t) for t in ("30s", "10m", "2h", "1d")] == [
        timedelta(seconds=30),
        timedelta(minutes=10),
        timedelta(hours=2),
        timedelta(days=1),
    ]
