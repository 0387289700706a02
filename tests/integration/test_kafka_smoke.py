"""The local stack's Kafka broker is real: both client libraries the project uses talk to it."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from eventing.kafka_admin import admin_client, delete_topics, ensure_topics
from eventing.topics import TopicSpec, all_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def topic(kafka_settings, unique_name):
    ensure_topics(kafka_settings, [TopicSpec(unique_name, partitions=1)])
    yield unique_name
    delete_topics(kafka_settings, [unique_name])


def test_declared_topics_exist_with_their_partitions_and_retention(kafka_settings):
    ensure_topics(kafka_settings, all_topics())
    metadata = admin_client(kafka_settings).list_topics(timeout=10)
    for spec in all_topics():
        assert spec.name in metadata.topics, spec.name
        assert len(metadata.topics[spec.name].partitions) == spec.partitions


def test_a_created_topic_is_listed_by_the_broker(kafka_settings, topic):
    metadata = admin_client(kafka_settings).list_topics(timeout=10)
    assert topic in metadata.topics


def test_auto_topic_creation_is_off(kafka_settings, unique_name):
    producer = Producer({**kafka_settings.client_config(), "message.timeout.ms": 3000})
    errors = []
    producer.produce(unique_name, b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(10)
    assert errors and errors[0] is not None, "producing to an undeclared topic must fail"
    assert unique_name not in admin_client(kafka_settings).list_topics(timeout=10).topics


def test_confluent_kafka_produces_and_consumes_a_message(kafka_settings, topic, unique_name):
    producer = Producer(
        {**kafka_settings.client_config(), "enable.idempotence": True, "acks": "all"}
    )
    delivered = []
    producer.produce(
        topic,
        key=b"k1",
        value=b"hello",
        headers=[("h", b"v")],
        on_delivery=lambda err, msg: delivered.append(err),
    )
    assert producer.flush(10) == 0
    assert delivered == [None]

    consumer = Consumer(
        {
            **kafka_settings.client_config(),
            "group.id": unique_name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        message = _poll_one(consumer, timeout_s=20)
        assert (message.key(), message.value()) == (b"k1", b"hello")
        assert message.headers() == [("h", b"v")]
    finally:
        consumer.close()


def test_aiokafka_produces_and_consumes_a_message(kafka_settings, topic, unique_name):
    async def roundtrip() -> tuple[bytes, bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(topic, key=b"k2", value=b"from aiokafka")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_settings.bootstrap_servers,
            group_id=unique_name,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), timeout=20)
            return record.key, record.value
        finally:
            await consumer.stop()

    assert asyncio.run(roundtrip()) == (b"k2", b"from aiokafka")


def _poll_one(consumer: Consumer, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            return message
    raise AssertionError(f"no message within {timeout_s}s")
