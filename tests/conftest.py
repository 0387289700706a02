"""Shared test fixtures: where the real servers of the local stack are (`make up` starts them)."""

from __future__ import annotations

import uuid

import pytest

from eventing.config import KafkaSettings


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    return KafkaSettings.from_env(client_id="eventshop-tests", admin_timeout_s=30)


@pytest.fixture
def unique_name() -> str:
    """A name no other test run uses, for throwaway topics, groups and databases."""
    return f"test_{uuid.uuid4().hex[:12]}"
