"""Consumers stop gracefully and share partitions without losing or doubling work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from eventing.kafka_admin import admin_client
from eventing.kafka_offsets import group_is_empty
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


def start_consumer(
    engine, topic, group, *, instance_id: str = "", session_timeout_ms: int | None = None
) -> subprocess.Popen:
    """A ledger consumer process; a static member of the group when given an `instance_id`."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.ledger_consumer",
            engine.url.render_as_string(hide_password=False),
            topic,
            group,
            *([str(session_timeout_ms)] if session_timeout_ms else []),
        ],
        env={**os.environ, "KAFKA_GROUP_INSTANCE_ID": instance_id},
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


#: Far longer than any wait below: whatever happens within it did not wait for a session to end.
LONG_SESSION_MS = 120_000


def test_a_static_member_killed_and_restarted_takes_its_partitions_back_at_once(
    published, kafka_settings
):
    """kill -9 leaves the member in the group until its session times out; the same
    `group.instance.id` started again replaces it at once instead of waiting for that."""
    engine, topic = published
    group = f"group-{uuid.uuid4().hex[:8]}"
    member = {"instance_id": "ledger-worker-1", "session_timeout_ms": LONG_SESSION_MS}
    first = start_consumer(engine, topic, group, **member)
    wait_for(lambda: ledger.applied_count(engine) >= 30, 60, "the first member to start")
    first.kill()
    first.wait(timeout=30)

    second = start_consumer(engine, topic, group, **member)
    try:
        wait_for(
            lambda: ledger.applied_count(engine) >= EVENTS,
            LONG_SESSION_MS / 1000 / 2,
            "the restarted member to finish the partitions (without a session timeout)",
        )
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, second.stderr.read()
    rows = ledger.applied_rows(engine)
    assert len(rows) == EVENTS == len(set(rows)), "each event applied exactly once"


def test_a_static_member_stopped_on_purpose_leaves_its_group_at_once(published, kafka_settings):
    """SIGTERM hands the partitions over at once, session timeout or not: a replay, which needs
    an empty group, can follow the stop of the group's last worker."""
    engine, topic = published
    group = f"group-{uuid.uuid4().hex[:8]}"
    member = start_consumer(
        engine,
        topic,
        group,
        instance_id="ledger-worker-1",
        session_timeout_ms=LONG_SESSION_MS,
    )
    wait_for(lambda: ledger.applied_count(engine) >= 1, 60, "the member to start")
    member.send_signal(signal.SIGTERM)
    assert member.wait(timeout=30) == 0, member.stderr.read()
    admin = admin_client(kafka_settings)
    wait_for(
        lambda: group_is_empty(admin, group),
        LONG_SESSION_MS / 1000 / 2,
        "the stopped static member to leave its group",
    )


def test_a_static_member_that_never_comes_back_is_replaced_within_its_session_timeout(published):
    """The shop's session timeout (10 s) bounds how long a crashed worker's partitions wait:
    the other member takes them over well before librdkafka's default of 45 s would."""
    engine, topic = published
    group = f"group-{uuid.uuid4().hex[:8]}"
    survivor = start_consumer(engine, topic, group, instance_id="ledger-worker-1")
    crashed = start_consumer(engine, topic, group, instance_id="ledger-worker-2")
    try:
        wait_for(lambda: ledger.applied_count(engine) >= 30, 60, "the members to start")
        crashed.kill()
        crashed.wait(timeout=30)
        wait_for(
            lambda: ledger.applied_count(engine) >= EVENTS,
            45,
            "the surviving member to take over the crashed one's partitions",
        )
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=30) == 0, survivor.stderr.read()
    rows = ledger.applied_rows(engine)
    assert len(rows) == EVENTS == len(set(rows)), "each event applied exactly once"
