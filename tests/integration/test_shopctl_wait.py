"""`shopctl wait` against the real broker: it returns once a group has joined, and fails with one
line naming the groups that have not."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest
from confluent_kafka import Consumer

from testkit.cli import run_shopctl

pytestmark = pytest.mark.integration


def shopctl_wait(namespace: str, *args: str) -> subprocess.CompletedProcess:
    return run_shopctl("wait", *args, env={**os.environ, "KAFKA_TOPIC_NAMESPACE": namespace})


def joined_consumer(kafka_settings, group: str, topic: str) -> Consumer:
    """A consumer of `group` that holds its partitions (the group is STABLE)."""
    consumer = Consumer({**kafka_settings.client_config(), "group.id": group})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 120
    while not consumer.assignment():
        assert time.monotonic() < deadline, f"{group} got no assignment"
        consumer.poll(0.2)
    return consumer


def test_waiting_for_a_joined_group_returns_at_once(kafka_settings, scratch_topic):
    namespace = f"w{uuid.uuid4().hex[:8]}."
    consumer = joined_consumer(kafka_settings, f"{namespace}order-service", scratch_topic)
    try:
        result = shopctl_wait(namespace, "--group", "order-service", "--timeout", "60")
    finally:
        consumer.close()

    assert result.returncode == 0, result.stderr
    assert "ready: order-service" in result.stdout


def test_a_group_that_never_joins_fails_with_one_line_naming_it():
    namespace = f"w{uuid.uuid4().hex[:8]}."

    result = shopctl_wait(namespace, "--group", "payment-service", "--timeout", "1")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "shopctl: after 1s still waiting for group payment-service (not joined)"
    ]
