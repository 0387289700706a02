"""A private stack for failure drills: its own PostgreSQL, Kafka and Elasticsearch, which a drill
may kill -9 and start again on the same data without touching the shared stack."""

from __future__ import annotations

import psycopg2
import pytest
import requests
from confluent_kafka import Consumer, Producer

from eventing.config import KafkaSettings
from eventing.kafka_admin import ensure_topics
from eventing.topics import TopicSpec
from testkit.private_stack import private_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack():
    with private_stack() as stack:
        yield stack


def test_a_private_stack_listens_on_ports_of_its_own(stack):
    assert stack.ports["postgres"] != 5432
    assert stack.ports["kafka"] != 9092
    assert stack.ports["elasticsearch"] != 9200
    assert requests.get(f"{stack.elasticsearch_url}/_cluster/health", timeout=10).ok


def test_postgres_killed_and_started_again_keeps_committed_rows(stack):
    url = stack.postgres_url_template.format(database="orders")
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS survivors (name text)")
        cursor.execute("INSERT INTO survivors VALUES ('before the crash')")
    connection.close()

    stack["postgres"].kill()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(url, connect_timeout=3)
    stack["postgres"].up()

    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT name FROM survivors")
        assert cursor.fetchall() == [("before the crash",)]
    connection.close()


def test_kafka_killed_and_started_again_keeps_acknowledged_messages(stack):
    settings = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap)
    ensure_topics(settings, [TopicSpec("drill.survivors", partitions=1)])
    producer = Producer({**settings.client_config(), "acks": "all"})
    producer.produce("drill.survivors", b"before the crash")
    assert producer.flush(30) == 0

    stack["kafka"].kill()
    stack["kafka"].up()

    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": "drill-survivors",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe(["drill.survivors"])
    try:
        message = None
        for _ in range(60):
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                break
        assert message is not None and message.value() == b"before the crash"
    finally:
        consumer.close()


def test_elasticsearch_killed_is_unreachable_until_started_again(stack):
    stack["elasticsearch"].kill()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack.elasticsearch_url}/_cluster/health", timeout=5)
    stack["elasticsearch"].up()
    assert requests.get(f"{stack.elasticsearch_url}/_cluster/health", timeout=10).ok
