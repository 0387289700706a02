"""However long a dependency stays down, a consumer and a relay try again often enough to
notice within seconds that it is back."""

from __future__ import annotations

import inspect

from eventing.outbox import OutboxRelay
from eventing.retry import RetryPolicy


def test_a_consumer_retries_a_long_transient_failure_at_least_every_two_seconds():
    policy = RetryPolicy()
    assert max(policy.delay(attempt) for attempt in range(1, 60)) <= 2.0


def test_a_relay_backs_off_at_most_two_seconds_by_default():
    default = inspect.signature(OutboxRelay).parameters["max_backoff_s"].default
    assert default <= 2.0
