"""Throwaway databases and topics on the real servers, removed after each test."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from eventing.kafka_admin import delete_topics, ensure_topics
from eventing.topics import TopicSpec, dead_letter_topic
from tests.conftest import sqlalchemy_url


@pytest.fixture
def scratch_engine():
    """An engine on a new, empty PostgreSQL database."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(sqlalchemy_url("postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(sqlalchemy_url(name), pool_size=10, max_overflow=10)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def scratch_topic(kafka_settings):
    """A new topic of three partitions, with its dead-letter topic."""
    name = f"test.{uuid.uuid4().hex[:12]}"
    specs = [TopicSpec(name, partitions=3), TopicSpec(dead_letter_topic(name), partitions=1)]
    ensure_topics(kafka_settings, specs)
    yield name
    delete_topics(kafka_settings, [spec.name for spec in specs])


@pytest.fixture(scope="module")
def shop_topics():
    """Every declared topic under a namespace of this test module's own, removed afterwards.

    Returns KafkaSettings whose `topic_namespace` services, consumers and relays use, so a test
    never sees another test's messages on the shop's shared topics."""
    from eventing.config import KafkaSettings
    from eventing.topics import all_topics

    settings = KafkaSettings.from_env(
        client_id="eventshop-tests",
        admin_timeout_s=30,
        topic_namespace=f"t{uuid.uuid4().hex[:8]}.",
    )
    ensure_topics(settings, all_topics())
    yield settings
    delete_topics(settings, [spec.name for spec in all_topics()])
