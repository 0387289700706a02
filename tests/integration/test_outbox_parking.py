"""An outbox row the broker can never take is parked, not allowed to stop its lane or its relay.

On the real Kafka and PostgreSQL: an order-service outbox (its own migrations) in a scratch
database, rows written through the outbox API, published by the real relay; `shopctl outbox`
run as the operator runs it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from rich.console import Console

from eventing.config import KafkaSettings
from eventing.envelope import Envelope
from eventing.errors import TransientError
from eventing.kafka_dead_letters import redrive
from eventing.outbox import PARKED_STUB_HEADER, Outbox, OutboxRelay, lane_of, unpublished_count
from eventing.outbox_admin import parked_rows
from eventing.producer import KafkaPublisher
from eventing.topics import TopicSpec, dead_letter_topic
from order_service import orm as order_orm
from servicekit.migrations import upgrade
from testkit.cli import run_shopctl
from testkit.conditions import wait_for
from testkit.metrics import counter_totals
from testkit.ports import free_port
from testkit.scratch import scratch_topics
from tests.support.kafka_helpers import read_topic

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
BROKER_LIMIT = 1_048_588  # the broker's message.max.bytes (Kafka's default, the local stack's)
WAIT_S = 90.0


@pytest.fixture
def order_db(scratch_engine) -> str:
    """The scratch database with the order service's schema; returns its URL."""
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(ROOT / "order_service" / "migrations", url)
    return url


@pytest.fixture
def outbox() -> Outbox:
    return Outbox(order_orm.outbox)


def write(
    engine: sa.Engine, outbox: Outbox, topic: str, key: str, seq: int, filler: str = ""
) -> Envelope:
    """One event of aggregate `key`, written through the outbox API in its own transaction."""
    envelope = Envelope(
        type="NoteWritten",
        aggregate_type="Note",
        aggregate_id=key,
        correlation_id=key,
        payload={"seq": seq, "filler": filler},
    )
    with engine.begin() as connection:
        outbox.add(connection, topic, envelope)
    return envelope


def incompressible(size: int) -> str:
    return secrets.token_hex(size // 2)


def key_in_lane_of(key: str, prefix: str) -> str:
    """Another key that hashes to the same lane as `key`."""
    return next(
        candidate
        for n in range(10_000)
        if lane_of(candidate := f"{prefix}-{n}") == lane_of(key) and candidate != key
    )


def published_seqs(settings: KafkaSettings, topic: str, expected: int) -> list[tuple[str, int]]:
    """(key, seq) of every message on the topic, in offset order per partition."""
    messages = read_topic(settings, topic, expected, timeout_s=WAIT_S)
    ordered = sorted(messages, key=lambda m: (m.partition(), m.offset()))
    return [(m.key().decode(), json.loads(m.value())["payload"]["seq"]) for m in ordered]


def row_state(engine: sa.Engine, event_id: uuid.UUID):
    table = order_orm.outbox
    with engine.connect() as connection:
        return connection.execute(sa.select(table).where(table.c.event_id == event_id)).one()


@contextmanager
def relay_running(relay: OutboxRelay) -> Iterator[threading.Thread]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            relay.run(stop)
        except BaseException as error:  # surfaced below
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors


def shopctl(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "ORDER_DATABASE_URL": database_url,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }
    return run_shopctl(*args, env=env)


def test_a_row_larger_than_the_broker_takes_is_parked_and_dead_lettered_while_its_lane_flows(
    scratch_engine, order_db, outbox, kafka_settings, scratch_topic
):
    reader = InMemoryMetricReader()
    relay = OutboxRelay(
        scratch_engine,
        outbox,
        KafkaPublisher(kafka_settings),
        meter_provider=MeterProvider(metric_readers=[reader]),
    )
    neighbour = key_in_lane_of("note-a", "note-b")
    write(scratch_engine, outbox, scratch_topic, "note-a", 1)
    too_large = write(
        scratch_engine, outbox, scratch_topic, "note-a", 2, incompressible(BROKER_LIMIT + 500_000)
    )
    write(scratch_engine, outbox, scratch_topic, "note-a", 3)
    write(scratch_engine, outbox, scratch_topic, neighbour, 1)

    with relay_running(relay) as thread:
        # The row before it and the other key of its lane are published; its own later row
        # waits behind it, so no consumer sees note-a's 3 before its 2.
        assert sorted(published_seqs(kafka_settings, scratch_topic, 2)) == sorted(
            [(neighbour, 1), ("note-a", 1)]
        )
        wait_for(lambda: row_state(scratch_engine, too_large.event_id).parked_at, WAIT_S, "parking")
        assert thread.is_alive(), "the relay died on a row the broker refused"
        parked = row_state(scratch_engine, too_large.event_id)
        assert parked.published_at is None
        assert "Message size too large" in parked.park_reason
        (listed,) = parked_rows(scratch_engine, order_orm.outbox)
        assert (listed.event_id, listed.held_behind) == (too_large.event_id, 1)
        assert listed.size_bytes > BROKER_LIMIT

        (stub,) = read_topic(kafka_settings, dead_letter_topic(scratch_topic), 1, WAIT_S)
        headers = {name: value.decode() for name, value in stub.headers()}
        assert headers["dlq.original.topic"] == scratch_topic
        assert headers["dlq.error.class"] == "MSG_SIZE_TOO_LARGE"
        assert "Message size too large" in headers["dlq.error.message"]
        assert headers[PARKED_STUB_HEADER] == str(too_large.event_id)
        assert stub.key() == b"note-a"
        assert len(stub.value()) < 2_000, "the stub names the row, it does not carry it"
        described = json.loads(stub.value())["parked_outbox_row"]
        assert described["event_id"] == str(too_large.event_id)
        assert described["event_type"] == "NoteWritten"
        assert described["size_bytes"] > BROKER_LIMIT
        assert counter_totals(reader, "outbox.parked", by="messaging.destination.name") == {
            scratch_topic: 1
        }

        listing = shopctl("outbox", "list", "--service", "order-service", database_url=order_db)
        assert listing.returncode == 0, listing.stderr
        assert str(too_large.event_id) in listing.stdout
        assert "1 parked outbox row(s)" in listing.stdout

        discarded = shopctl(
            "outbox",
            "discard",
            str(too_large.event_id),
            "--reason",
            "superseded by note-a 3",
            database_url=order_db,
        )
        assert discarded.returncode == 0, discarded.stderr
        assert "1 held row(s) released" in discarded.stdout
        # Released: the held row follows, after the rows that went before it.
        assert published_seqs(kafka_settings, scratch_topic, 3).count(("note-a", 3)) == 1
        assert thread.is_alive()

    gone = row_state(scratch_engine, too_large.event_id)
    assert (gone.discard_reason, gone.published_at) == ("superseded by note-a 3", None)
    assert parked_rows(scratch_engine, order_orm.outbox) == []
    again = shopctl("outbox", "retry", str(too_large.event_id), database_url=order_db)
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0, again.stderr
    assert "no parked outbox row" in again.stderr


def test_a_parked_row_retried_after_the_fix_is_published_before_the_rows_held_behind_it(
    scratch_engine, order_db, outbox, kafka_settings, scratch_topic
):
    strict = KafkaPublisher(
        kafka_settings, extra_config={"message.max.bytes": 100_000, "batch.size": 100_000}
    )
    big = write(scratch_engine, outbox, scratch_topic, "note-r", 1, incompressible(200_000))
    write(scratch_engine, outbox, scratch_topic, "note-r", 2)
    write(scratch_engine, outbox, scratch_topic, "note-r", 3)

    first = OutboxRelay(scratch_engine, outbox, strict).publish_pass()
    assert (first.published, first.parked) == (0, 1)
    assert OutboxRelay(scratch_engine, outbox, strict).publish_pass().handled == 0, "held"

    retried = shopctl("outbox", "retry", str(big.event_id), database_url=order_db)
    assert retried.returncode == 0, retried.stderr
    assert "3 row(s) will follow" in retried.stdout
    # The fix: a relay whose limit the row fits in.
    fixed = OutboxRelay(scratch_engine, outbox, KafkaPublisher(kafka_settings))
    assert fixed.publish_pass().published == 3
    assert published_seqs(kafka_settings, scratch_topic, 3) == [
        ("note-r", 1),
        ("note-r", 2),
        ("note-r", 3),
    ]
    assert row_state(scratch_engine, big.event_id).published_at is not None
    assert unpublished_count(scratch_engine, order_orm.outbox) == 0


def test_a_batch_the_broker_refuses_for_one_row_parks_only_that_row(
    scratch_engine, order_db, outbox, kafka_settings
):
    """The broker refuses a whole batch for one message over the topic's max.message.bytes; the
    innocent rows batched with it are published, only the one that fails alone is parked."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    specs = [
        TopicSpec(name, partitions=1, config={"max.message.bytes": "4096"}),
        TopicSpec(dead_letter_topic(name), 1),
    ]
    with scratch_topics(kafka_settings, specs):
        write(scratch_engine, outbox, name, "note-x", 1)
        refused = write(scratch_engine, outbox, name, "note-y", 1, incompressible(40_000))
        write(scratch_engine, outbox, name, "note-x", 2)
        write(scratch_engine, outbox, name, "note-y", 2)

        result = OutboxRelay(scratch_engine, outbox, KafkaPublisher(kafka_settings)).publish_pass()

        assert (result.published, result.parked) == (2, 1)
        assert published_seqs(kafka_settings, name, 2) == [("note-x", 1), ("note-x", 2)]
        parked = row_state(scratch_engine, refused.event_id)
        assert "Message size too large" in parked.park_reason
        (listed,) = parked_rows(scratch_engine, order_orm.outbox)
        assert (listed.event_id, listed.held_behind) == (refused.event_id, 1)
        (stub,) = read_topic(kafka_settings, dead_letter_topic(name), 1, WAIT_S)
        assert dict(stub.headers())[PARKED_STUB_HEADER] == str(refused.event_id).encode()
        # A stub is no message: redriving the dead-letter topic leaves it where it is.
        assert redrive(kafka_settings, dead_letter_topic(name)) == 0
        assert published_seqs(kafka_settings, name, 2) == [("note-x", 1), ("note-x", 2)]


def test_a_broker_that_does_not_answer_is_retried_and_never_parks_a_row(
    scratch_engine, order_db, outbox, kafka_settings, scratch_topic
):
    nowhere = f"127.0.0.1:{free_port()}"  # a port nothing listens on
    down = KafkaPublisher(
        KafkaSettings(bootstrap_servers=nowhere), extra_config={"message.timeout.ms": 2000}
    )
    event = write(scratch_engine, outbox, scratch_topic, "note-t", 1)

    with pytest.raises(TransientError):
        OutboxRelay(scratch_engine, outbox, down).publish_pass()

    assert row_state(scratch_engine, event.event_id).parked_at is None
    assert unpublished_count(scratch_engine, order_orm.outbox) == 1
    back = OutboxRelay(scratch_engine, outbox, KafkaPublisher(kafka_settings))
    assert back.publish_pass().published == 1
    assert published_seqs(kafka_settings, scratch_topic, 1) == [("note-t", 1)]


def test_shopctl_status_counts_parked_rows_per_service_and_topic(
    scratch_engine, order_db, outbox, kafka_settings, scratch_topic, monkeypatch
):
    from shopctl.status import parked_outbox_rows

    strict = KafkaPublisher(kafka_settings, extra_config={"message.max.bytes": 100_000})
    write(scratch_engine, outbox, scratch_topic, "note-s", 1, incompressible(200_000))
    assert OutboxRelay(scratch_engine, outbox, strict).publish_pass().parked == 1
    monkeypatch.setenv("ORDER_DATABASE_URL", order_db)

    console = Console(record=True, width=300)
    console.print(parked_outbox_rows())
    order_line = next(
        line for line in console.export_text().splitlines() if "order-service" in line
    )
    assert f"{scratch_topic}=1" in order_line
    assert " 1 " in order_line


def test_shopctl_outbox_on_a_database_not_yet_migrated_says_so_in_one_line(scratch_engine):
    url = scratch_engine.url.render_as_string(hide_password=False)
    listing = shopctl("outbox", "list", "--service", "order-service", database_url=url)
    assert listing.returncode != 0
    assert listing.stderr.strip().count("\n") == 0, listing.stderr
    assert "not migrated" in listing.stderr
