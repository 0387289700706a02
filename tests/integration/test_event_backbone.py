"""The event backbone on the real Kafka and PostgreSQL: outbox, relay, inbox, retries, dead
letters and trace context, as issue #4 specifies them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from confluent_kafka import Producer
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from eventing.consumer import EventConsumer
from eventing.envelope import Envelope
from eventing.errors import TransientError
from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from eventing.tracing import kafka_headers_to_dict
from testkit import ledger
from testkit.conditions import wait_for
from tests.support.kafka_helpers import read_topic, run_consumer_until

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(scratch_engine):
    ledger.metadata.create_all(scratch_engine)
    return scratch_engine


def make_relay(engine, kafka_settings, **options) -> OutboxRelay:
    return OutboxRelay(engine, ledger.outbox, KafkaPublisher(kafka_settings), **options)


def drain(relay: OutboxRelay) -> None:
    while unpublished_count(relay.engine, relay.table):
        relay.publish_pending()


def make_consumer(kafka_settings, topic, handler, **options) -> EventConsumer:
    return EventConsumer(
        kafka_settings,
        group_id=f"group-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=handler,
        registry=ledger.registry,
        **options,
    )


def test_a_rolled_back_state_change_publishes_no_event(engine, kafka_settings, scratch_topic):
    with ledger.unit_of_work(engine)() as uow:
        uow.ledger.record_entry("a", 1, 1)
        event = ledger.EntryAdded(account_id="a", seq=1, amount_cents=1)
        uow.add_to_outbox(scratch_topic, ledger.envelope_for(event))
        # left without commit: the unit of work rolls back
    ledger.add_entry(engine, scratch_topic, "b", 1)

    drain(make_relay(engine, kafka_settings))

    messages = read_topic(kafka_settings, scratch_topic, expected=1)
    assert [Envelope.from_bytes(m.value()).aggregate_id for m in messages] == ["b"]


@pytest.mark.parametrize(
    ("moment", "published_by_the_crashed_relay"),
    [("before-publish", 0), ("after-publish", 20)],
    ids=["killed-after-commit-before-publish", "killed-after-publish-before-marking"],
)
def test_a_relay_killed_mid_batch_and_restarted_leads_to_exactly_one_effect(
    engine, kafka_settings, scratch_topic, moment, published_by_the_crashed_relay
):
    for seq in range(1, 21):
        ledger.add_entry(engine, scratch_topic, f"acct-{seq % 4}", seq)

    crashed = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.crashing_relay",
            engine.url.render_as_string(hide_password=False),
            moment,
        ],
        timeout=60,
        capture_output=True,
    )
    assert crashed.returncode == -9, crashed.stderr.decode()
    assert unpublished_count(engine, ledger.outbox.table) == 20, "the crash left rows unmarked"

    drain(make_relay(engine, kafka_settings))  # the restarted relay publishes every row
    delivered = len(
        read_topic(kafka_settings, scratch_topic, expected=20 + published_by_the_crashed_relay)
    )
    assert delivered == 20 + published_by_the_crashed_relay

    consumer = make_consumer(kafka_settings, scratch_topic, ledger.applying_handler(engine))
    run_consumer_until(consumer, lambda: consumer.processed >= delivered)
    assert ledger.applied_count(engine) == 20


def test_a_duplicate_delivery_and_a_whole_replay_leave_the_state_of_one_delivery(
    engine, kafka_settings, scratch_topic
):
    for seq in range(1, 11):
        ledger.add_entry(engine, scratch_topic, "acct", seq)
    drain(make_relay(engine, kafka_settings))
    handler = ledger.applying_handler(engine)
    first = make_consumer(kafka_settings, scratch_topic, handler)
    run_consumer_until(first, lambda: first.processed >= 10)
    state_after_one_delivery = ledger.applied_rows(engine)

    duplicates = Producer(kafka_settings.client_config())
    for message in read_topic(kafka_settings, scratch_topic, expected=10)[:3]:
        duplicates.produce(scratch_topic, key=message.key(), value=message.value())
    duplicates.flush(10)
    run_consumer_until(first, lambda: first.processed >= 13)

    replay = make_consumer(kafka_settings, scratch_topic, handler)  # a new group: from offset 0
    run_consumer_until(replay, lambda: replay.processed >= 13)

    assert ledger.applied_rows(engine) == state_after_one_delivery
    assert len(state_after_one_delivery) == 10


@contextmanager
def relay_running(relay: OutboxRelay) -> Iterator[threading.Thread]:
    """The relay's loop in a thread for the block; stopped (5 s at most) when it ends."""
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(5)


def test_a_running_relay_is_woken_by_the_commit_not_by_its_fallback_poll(
    engine, kafka_settings, scratch_topic
):
    relay = make_relay(engine, kafka_settings, idle_poll_s=600.0)
    with relay_running(relay) as thread:
        wait_until_listening(engine)  # the relay found nothing and sleeps on its notifications
        written = time.monotonic()
        ledger.add_entry(engine, scratch_topic, "a", 1)
        while unpublished_count(engine, relay.table) and time.monotonic() - written < 120:
            time.sleep(0.01)
        assert time.monotonic() - written < 120, "published only by the 600 s fallback poll"
    assert not thread.is_alive(), "a sleeping relay did not notice stop"
    assert len(read_topic(kafka_settings, scratch_topic, expected=1)) == 1


def _listening_backends(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
            )
        ).scalar_one()


def wait_until_listening(engine, timeout_s: float = 60.0) -> None:
    """Until a relay's connection has run its LISTEN (a thread just started may take a while
    on a loaded machine)."""
    wait_for(lambda: _listening_backends(engine) > 0, timeout_s, "the relay listening")


def test_a_relay_whose_listening_connection_is_cut_polls_meanwhile_then_listens_again(
    engine, kafka_settings, scratch_topic
):
    relay = make_relay(engine, kafka_settings, idle_poll_s=1.0)
    with relay_running(relay):
        wait_until_listening(engine)
        assert _listening_backends(engine) == 1
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query LIKE 'LISTEN %'"
                )
            )
        ledger.add_entry(engine, scratch_topic, "a", 1)
        deadline = time.monotonic() + 60
        while unpublished_count(engine, relay.table) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert unpublished_count(engine, relay.table) == 0
        while _listening_backends(engine) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _listening_backends(engine) == 1
    assert len(read_topic(kafka_settings, scratch_topic, expected=1)) == 1


def test_three_relays_publish_1000_events_of_20_aggregates_in_order_none_lost_none_doubled(
    engine, kafka_settings, scratch_topic
):
    accounts = [f"acct-{n:02d}" for n in range(20)]
    stop = threading.Event()
    relays = [make_relay(engine, kafka_settings, batch_size=50) for _ in range(3)]
    threads = [threading.Thread(target=relay.run, args=(stop,), daemon=True) for relay in relays]
    for thread in threads:
        thread.start()
    try:
        for seq in range(1, 51):  # written while the relays run, interleaving the aggregates
            for account in accounts:
                ledger.add_entry(engine, scratch_topic, account, seq)
        consumer = make_consumer(kafka_settings, scratch_topic, ledger.applying_handler(engine))
        run_consumer_until(consumer, lambda: ledger.applied_count(engine) >= 1000, timeout_s=90)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)

    rows = ledger.applied_rows(engine)
    assert len(rows) == 1000
    for account in accounts:
        assert [seq for acct, seq in rows if acct == account] == list(range(1, 51)), account


def test_malformed_and_invalid_messages_go_to_the_dead_letter_topic_and_the_next_is_processed(
    engine, kafka_settings, scratch_topic
):
    good = ledger.envelope_for(ledger.EntryAdded(account_id="acct", seq=1, amount_cents=5))
    unknown = good.model_copy(update={"event_id": uuid.uuid4(), "type": "NoSuchEvent"})
    invalid = good.model_copy(update={"event_id": uuid.uuid4(), "payload": {"account_id": "acct"}})
    producer = Producer(kafka_settings.client_config())
    for value in (b"\x00not json", unknown.to_bytes(), invalid.to_bytes(), good.to_bytes()):
        producer.produce(scratch_topic, key=b"acct", value=value)  # one key: one partition
    producer.flush(10)

    consumer = make_consumer(kafka_settings, scratch_topic, ledger.applying_handler(engine))
    run_consumer_until(consumer, lambda: ledger.applied_count(engine) == 1)

    dead = read_topic(kafka_settings, dead_letter_topic(scratch_topic), expected=3)
    reasons = [kafka_headers_to_dict(m.headers()) for m in dead]
    assert [r["dlq.error.class"] for r in reasons] == [
        "UndecodableMessage",
        "UnknownEventType",
        "InvalidPayload",
    ]
    assert "NoSuchEvent" in reasons[1]["dlq.error.message"]
    assert "amount_cents" in reasons[2]["dlq.error.message"]
    assert all(r["dlq.original.topic"] == scratch_topic for r in reasons)
    assert [int(r["dlq.original.offset"]) for r in reasons] == sorted(
        int(r["dlq.original.offset"]) for r in reasons
    )
    assert dead[0].value() == b"\x00not json", "the original bytes are kept"


def test_a_transient_failure_is_retried_in_place_keeping_the_partitions_order(
    engine, kafka_settings, scratch_topic
):
    for seq in (1, 2, 3):
        ledger.add_entry(engine, scratch_topic, "acct", seq)
    drain(make_relay(engine, kafka_settings))
    apply = ledger.applying_handler(engine)
    failures = {"left": 3}

    def flaky(decoded):
        if decoded.event.seq == 2 and failures["left"]:
            failures["left"] -= 1
            raise TransientError("database briefly down")
        apply(decoded)

    consumer = make_consumer(
        kafka_settings, scratch_topic, flaky, retry=RetryPolicy(base_delay_s=0.05, max_delay_s=0.2)
    )
    run_consumer_until(consumer, lambda: ledger.applied_count(engine) == 3)
    assert ledger.applied_rows(engine) == [("acct", 1), ("acct", 2), ("acct", 3)]
    assert failures["left"] == 0


def test_a_message_failing_every_attempt_is_dead_lettered_with_its_attempt_count(
    engine, kafka_settings, scratch_topic
):
    ledger.add_entry(engine, scratch_topic, "acct", 1)
    ledger.add_entry(engine, scratch_topic, "acct", 2)
    drain(make_relay(engine, kafka_settings))
    apply = ledger.applying_handler(engine)

    def broken_for_seq_1(decoded):
        if decoded.event.seq == 1:
            raise ValueError("a bug in the handler")
        apply(decoded)

    consumer = make_consumer(
        kafka_settings,
        scratch_topic,
        broken_for_seq_1,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.1),
    )
    run_consumer_until(consumer, lambda: ledger.applied_count(engine) == 1)

    [dead] = read_topic(kafka_settings, dead_letter_topic(scratch_topic), expected=1)
    headers = kafka_headers_to_dict(dead.headers())
    assert (headers["dlq.error.class"], headers["dlq.attempts"]) == ("ValueError", "3")
    assert ledger.applied_rows(engine) == [("acct", 2)]


def test_the_trace_context_written_with_the_outbox_row_arrives_in_the_consumers_headers(
    engine, kafka_settings, scratch_topic
):
    trace_id = uuid.uuid4().int >> 64 << 64 | 1
    request_span = NonRecordingSpan(
        SpanContext(trace_id, 0xABCDEF, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    )
    token = otel_context.attach(trace.set_span_in_context(request_span))
    try:
        ledger.add_entry(engine, scratch_topic, "acct", 1)
    finally:
        otel_context.detach(token)
    drain(make_relay(engine, kafka_settings))

    seen = []

    def remember_trace(decoded):
        seen.append(trace.get_current_span().get_span_context().trace_id)

    consumer = make_consumer(kafka_settings, scratch_topic, remember_trace)
    run_consumer_until(consumer, lambda: bool(seen))
    [message] = read_topic(kafka_settings, scratch_topic, expected=1)
    traceparent = kafka_headers_to_dict(message.headers())["traceparent"]
    assert traceparent.split("-")[1] == f"{trace_id:032x}"
    assert seen == [trace_id], "the handler runs inside the producer's trace"
