"""Consumers stop gracefully and share partitions without losing or doubling work."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import pytest

from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher
from testkit import ledger
from testkit.conditions import wait_for

pytestmark = pytest.mark.integration
EVENTS = 300


@pytest.fixture
def published(scratch_engine, kafka_settings, scratch_topic):
    """EVENTS ledger events for 10 accounts, published to the scratch topic."""
    ledger.metadata.create_all(scratch_engine)
    for seq in range(EVENTS):
        ledger.add_entry(scratch_engine, scratch_topic, f"acct-{seq % 10}", seq)
    relay = OutboxRelay(scratch_engine, ledger.outbox, KafkaPublisher(kafka_settings))
    while unpublished_count(scratch_engine, ledger.outbox.table):
        relay.publish_pending()
    return scratch_engine, scratch_topic


def start_consumer(engine, topic, group) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.ledger_consumer",
            engine.url.render_as_string(hide_password=False),
            topic,
            group,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "ready"
    return process


def test_sigterm_finishes_the_message_in_hand_commits_and_a_restart_loses_nothing(published):
    engine, topic = published
    group = f"group-{uuid.uuid4().hex[:8]}"
    first = start_consumer(engine, topic, group)
    wait_for(lambda: ledger.applied_count(engine) >= 50)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0, first.stderr.read()
    stopped_at = ledger.applied_count(engine)
    assert stopped_at < EVENTS, "stopped mid-stream"

    second = start_consumer(engine, topic, group)
    try:
        wait_for(lambda: ledger.applied_count(engine) >= EVENTS)
        time.sleep(1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    rows = ledger.applied_rows(engine)
    assert len(rows) == EVENTS == len(set(rows)), "each event applied exactly once"


def test_a_consumer_joining_mid_stream_shares_the_partitions_without_doubling_work(published):
    engine, topic = published
    group = f"group-{uuid.uuid4().hex[:8]}"
    consumers = [start_consumer(engine, topic, group)]
    try:
        wait_for(lambda: ledger.applied_count(engine) >= 30)
        consumers.append(start_consumer(engine, topic, group))  # triggers a rebalance
        wait_for(lambda: ledger.applied_count(engine) >= EVENTS)
        time.sleep(1)
    finally:
        for consumer in consumers:
            consumer.send_signal(signal.SIGTERM)
        for consumer in consumers:
            assert consumer.wait(timeout=30) == 0, consumer.stderr.read()
    rows = ledger.applied_rows(engine)
    assert len(rows) == EVENTS == len(set(rows))
    for account in {account for account, _ in rows}:
        seqs = [seq for acct, seq in rows if acct == account]
        assert seqs == sorted(seqs), f"{account} applied out of order"
