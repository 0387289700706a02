"""Shared test fixtures: where the real servers of the local stack are (`make up` starts them)."""

from __future__ import annotations

import uuid

import pytest

from eventing.config import KafkaSettings
from testkit.tokens import TokenIssuer


@pytest.fixture(scope="session")
def kafka_settings() -> KafkaSettings:
    return KafkaSettings.from_env(client_id="eventshop-tests", admin_timeout_s=30)


@pytest.fixture(scope="session")
def customer_tokens(tmp_path_factory) -> TokenIssuer:
    """A signing key pair of the test session's own, as the shop's identity provider."""
    return TokenIssuer.create(tmp_path_factory.mktemp("customer-tokens"))


@pytest.fixture
def unique_name() -> str:
    """A name no other test run uses, for throwaway topics, groups and databases."""
    return f"test_{uuid.uuid4().hex[:12]}"
