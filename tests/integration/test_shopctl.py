"""Operator drills with the real `shopctl` command against the real stack."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventing.consumer import EventConsumer, RetryPolicy
from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher
from eventing.topics import dead_letter_topic
from testkit import ledger
from tests.support.kafka_helpers import read_topic, run_consumer_until

pytestmark = pytest.mark.integration


def shopctl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shopctl", *args], capture_output=True, text=True, timeout=120
    )


def test_a_poisoned_message_redriven_after_the_fix_is_processed_once(
    scratch_engine, kafka_settings, scratch_topic
):
    ledger.metadata.create_all(scratch_engine)
    for seq in (1, 2):
        ledger.add_entry(scratch_engine, scratch_topic, "acct", seq)
    relay = OutboxRelay(scratch_engine, ledger.outbox, KafkaPublisher(kafka_settings))
    while unpublished_count(scratch_engine, ledger.outbox.table):
        relay.publish_pending()
    apply = ledger.applying_handler(scratch_engine)
    bug = {"present": True}

    def handler(decoded):
        if bug["present"] and decoded.event.seq == 1:
            raise ValueError("a bug in the handler")
        apply(decoded)

    consumer = EventConsumer(
        kafka_settings,
        group_id=f"{scratch_topic}-group",
        topics=[scratch_topic],
        handler=handler,
        registry=ledger.registry,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.05),
    )
    run_consumer_until(consumer, lambda: ledger.applied_count(scratch_engine) == 1)
    dlq = dead_letter_topic(scratch_topic)
    read_topic(kafka_settings, dlq, expected=1)

    listed = shopctl("dlq", "list", "--topic", dlq)
    assert listed.returncode == 0, listed.stderr
    assert "ValueError" in listed.stdout and "a bug in the handler" in listed.stdout

    bug["present"] = False  # the fix is deployed
    redriven = shopctl("dlq", "redrive", "--topic", dlq)
    assert redriven.returncode == 0, redriven.stderr
    assert "redrove 1 dead letter" in redriven.stdout
    run_consumer_until(consumer, lambda: ledger.applied_count(scratch_engine) == 2)

    again = shopctl("dlq", "redrive", "--topic", dlq)
    assert "redrove 0 dead letter" in again.stdout, "each letter is redriven once"
    assert sorted(ledger.applied_rows(scratch_engine)) == [("acct", 1), ("acct", 2)]
    [redriven_message] = [
        m
        for m in read_topic(kafka_settings, scratch_topic, expected=3)
        if dict(m.headers() or []).get("dlq.redriven.from")
    ]
    assert dict(redriven_message.headers())["dlq.attempts"] == b"2", "attempt count kept"


def test_failures_are_one_readable_line_and_a_non_zero_exit():
    for args in (
        ["sagas", "show", "not-a-uuid"],
        ["replay", "--topic", "orders.orders", "--group", "g"],
        ["dlq", "list", "--topic", "no.such.topic.dlq"],
    ):
        result = shopctl(*args)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
