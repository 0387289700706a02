"""Shared test fixtures: where the real servers of the local stack are (`make up` starts them)."""

from __future__ import annotations

import os
import uuid

import pytest

from eventing.config import KafkaSettings

POSTGRES_URL_TEMPLATE = os.environ.get(
    "TEST_POSTGRES_URL_TEMPLATE", "postgresql://eventshop:eventshop@127.0.0.1:5432/{database}"
)
SERVICE_DATABASES = ("orders", "inventory", "payments", "sagas")


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    return KafkaSettings.from_env(client_id="eventshop-tests", admin_timeout_s=30)


@pytest.fixture
def unique_name() -> str:
    """A name no other test run uses, for throwaway topics, groups and databases."""
    return f"test_{uuid.uuid4().hex[:12]}"


def postgres_url(database: str) -> str:
    """A libpq URL, for psycopg2.connect and psql."""
    return POSTGRES_URL_TEMPLATE.format(database=database)


def sqlalchemy_url(database: str) -> str:
    """The same database for SQLAlchemy, naming the psycopg2 driver the project uses."""
    return postgres_url(database).replace("postgresql://", "postgresql+psycopg2://", 1)
