"""What the state gauges read from the real PostgreSQL and Kafka: an outbox's backlog and the
age of its oldest unpublished row, the sagas in flight per type and state (zeros included),
and a consumer group's lag per partition from its committed offsets."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition
from sqlalchemy import MetaData, insert

from eventing.envelope import utc_now
from eventing.metrics import group_lag_readings, outbox_state
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.sql import outbox_table
from sagas.framework.metrics import sagas_in_flight
from sagas.framework.store import saga_tables

pytestmark = pytest.mark.integration


@pytest.fixture
def tables(scratch_engine):
    metadata = MetaData()
    outbox = outbox_table(metadata)
    instances, _log, _progress = saga_tables(metadata)
    metadata.create_all(scratch_engine)
    return scratch_engine, outbox, instances


def add_outbox_row(engine, outbox, *, age: timedelta, published=False, parked=False) -> None:
    now = utc_now()
    with engine.begin() as connection:
        connection.execute(
            insert(outbox).values(
                event_id=uuid.uuid4(),
                topic="orders.orders",
                message_key="o-1",
                lane=0,
                event_type="OrderCreated",
                envelope="{}",
                created_at=now - age,
                published_at=now if published else None,
                parked_at=now if parked else None,
            )
        )


def test_an_empty_outbox_has_no_backlog_and_no_age(tables):
    engine, outbox, _ = tables
    assert outbox_state(engine, outbox) == (0, 0.0)


def test_the_backlog_counts_unpublished_rows_and_ages_by_the_oldest_not_parked(tables):
    engine, outbox, _ = tables
    add_outbox_row(engine, outbox, age=timedelta(hours=2), published=True)
    add_outbox_row(engine, outbox, age=timedelta(hours=1), parked=True)
    add_outbox_row(engine, outbox, age=timedelta(minutes=5))
    add_outbox_row(engine, outbox, age=timedelta(seconds=1))

    waiting, age = outbox_state(engine, outbox)

    assert waiting == 2
    assert 300 <= age < 400


def add_saga(engine, instances, saga_type: str, state: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            insert(instances).values(
                saga_id=uuid.uuid4(),
                saga_type=saga_type,
                saga_key=uuid.uuid4().hex,
                state=state,
                data={},
                version=1,
            )
        )


def test_sagas_in_flight_are_counted_per_type_and_state_and_every_pair_reported(tables):
    engine, _, instances = tables
    for state in ("RUNNING", "RUNNING", "COMPENSATION_FAILED", "COMPLETED", "ABORTED"):
        add_saga(engine, instances, "checkout", state)

    readings = {
        (labels["saga.type"], labels["saga.state"]): value
        for value, labels in sagas_in_flight(engine, instances, ["checkout", "cancellation"])
    }

    assert readings == {
        ("checkout", "RUNNING"): 2,
        ("checkout", "COMPENSATION_FAILED"): 1,
        ("checkout", "COMPENSATING"): 0,
        ("checkout", "ABORTING"): 0,
        ("cancellation", "RUNNING"): 0,
        ("cancellation", "COMPENSATION_FAILED"): 0,
        ("cancellation", "COMPENSATING"): 0,
        ("cancellation", "ABORTING"): 0,
    }


def test_a_groups_lag_is_what_it_has_not_committed_per_partition(
    kafka_settings, scratch_topic, unique_name
):
    KafkaPublisher(kafka_settings).publish(
        [OutgoingMessage(scratch_topic, b"one-key", b"v") for _ in range(5)]
    )
    consumer = Consumer({**kafka_settings.client_config(), "group.id": unique_name})
    try:
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(scratch_topic, p), timeout=15)[1]
            for p in range(3)
        }
        [written] = [p for p, end in ends.items() if end == 5]
        committed = [TopicPartition(scratch_topic, p, 2 if p == written else 0) for p in ends]
        consumer.commit(offsets=committed, asynchronous=False)
    finally:
        consumer.close()

    readings = group_lag_readings(kafka_settings, unique_name)

    lags = {int(labels["messaging.destination.partition.id"]): v for v, labels in readings}
    assert lags == {p: 3 if p == written else 0 for p in range(3)}
    assert all(
        labels["messaging.consumer.group.name"] == unique_name
        and labels["messaging.destination.name"] == scratch_topic
        for _, labels in readings
    )
