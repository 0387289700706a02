"""When the outbox relay runs its next pass: at once only while there may be more rows than a
pass takes, otherwise when a writer's commit notifies it. The loop's policy alone, with the
pass and the wait replaced by recorders (the passes themselves are covered against
PostgreSQL and Kafka in tests/integration/test_event_backbone.py)."""

from __future__ import annotations

import threading
from typing import Any, cast

import pytest
from sqlalchemy import MetaData, create_engine

from eventing.outbox import Outbox, OutboxRelay, RelayPass
from eventing.sql import outbox_table

BATCH = 10


def passes_then_waits(results: list[RelayPass]) -> list[str]:
    """What the relay's loop does, in order, when its passes return `results`; it stops at
    its first wait, or when the results run out."""
    stop = threading.Event()
    relay = OutboxRelay(
        create_engine("postgresql+psycopg2://nobody@127.0.0.1:1/none"),
        Outbox(outbox_table(MetaData())),
        cast(Any, None),
        batch_size=BATCH,
    )
    steps: list[str] = []
    remaining = iter(results)

    def publish_pass() -> RelayPass:
        result = next(remaining, None)
        if result is None:
            stop.set()
            return RelayPass()
        steps.append(f"pass:{result.handled}")
        return result

    def sleep_until_notified(_stop: threading.Event) -> None:
        steps.append("wait")
        stop.set()

    relay.publish_pass = publish_pass  # type: ignore[method-assign]
    relay.prune = lambda: 0  # type: ignore[method-assign]
    relay._sleep_until_notified = sleep_until_notified  # type: ignore[method-assign]
    relay.run(stop)
    return steps


def test_a_pass_that_published_less_than_a_batch_waits_for_the_next_commit():
    assert passes_then_waits([RelayPass(published=3)]) == ["pass:3", "wait"]


def test_a_pass_that_found_nothing_waits_for_the_next_commit():
    assert passes_then_waits([RelayPass()]) == ["pass:0", "wait"]


@pytest.mark.parametrize("handled", [RelayPass(published=BATCH), RelayPass(parked=BATCH)])
def test_a_full_pass_is_followed_at_once_by_another(handled):
    assert passes_then_waits([handled, RelayPass(published=2)]) == [
        f"pass:{BATCH}",
        "pass:2",
        "wait",
    ]
