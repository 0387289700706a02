"""Throwaway databases and topics on the real servers, removed after each test."""

from __future__ import annotations

import uuid

import pytest

from eventing.config import KafkaSettings
from eventing.topics import all_topics
from testkit.scratch import scratch_database, scratch_topics, topic_with_dead_letters


@pytest.fixture
def scratch_engine():
    """An engine on a new, empty PostgreSQL database."""
    with scratch_database() as engine:
        yield engine


@pytest.fixture
def scratch_topic(kafka_settings):
    """A new topic of three partitions, with its dead-letter topic."""
    with scratch_topics(kafka_settings, topic_with_dead_letters()) as names:
        yield names[0]


@pytest.fixture(scope="module")
def shop_topics():
    """Every declared topic under a namespace of this test module's own, removed afterwards.

    Returns KafkaSettings whose `topic_namespace` services, consumers and relays use, so a test
    never sees another test's messages on the shop's shared topics."""
    settings = KafkaSettings.from_env(
        client_id="eventshop-tests", admin_timeout_s=30, topic_namespace=f"t{uuid.uuid4().hex[:8]}."
    )
    with scratch_topics(settings, all_topics()):
        yield settings
