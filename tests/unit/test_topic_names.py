"""Topic and group names are logical in the shop's code and its databases; the namespace is put
in front of a name only where the name is handed to Kafka, in one function
(`eventing.config.qualified`). These tests run without a server."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from eventing import dead_letter_headers as dlq
from eventing.config import KafkaSettings
from eventing.envelope import Envelope
from eventing.outbox import Outbox, OutboxRelay, _Park
from eventing.sql import outbox_table
from eventing.topics import ORDERS, dead_letter_topic

ROOT = Path(__file__).parents[2]
NAMESPACE = "t1a2b3c4d."


def settings(namespace: str = NAMESPACE) -> KafkaSettings:
    return KafkaSettings(topic_namespace=namespace)


def test_a_logical_name_is_qualified_with_the_namespace_and_read_back_from_it():
    kafka = settings()
    assert kafka.qualify(ORDERS) == "t1a2b3c4d.orders.orders"
    assert kafka.logical(kafka.qualify(ORDERS)) == ORDERS
    assert kafka.qualify("order-service") == "t1a2b3c4d.order-service", "groups too"


def test_a_name_of_another_namespace_has_no_logical_name_here():
    kafka = settings()
    assert not kafka.in_namespace("e9f8e7d6.orders.orders")
    assert kafka.logical("e9f8e7d6.orders.orders") is None


def test_without_a_namespace_every_name_is_the_shops_and_unchanged():
    kafka = settings("")
    assert kafka.qualify(ORDERS) == ORDERS
    assert kafka.logical("e9f8e7d6.orders.orders") == "e9f8e7d6.orders.orders"
    assert kafka.broker_name(ORDERS) == ORDERS


def test_an_operator_may_name_a_topic_logically_or_as_the_broker_does():
    kafka = settings()
    dead_letters = dead_letter_topic(ORDERS)
    assert kafka.broker_name(dead_letters) == kafka.qualify(dead_letters)
    assert kafka.broker_name(kafka.qualify(dead_letters)) == kafka.qualify(dead_letters), (
        "a name shopctl or the console showed is not qualified twice"
    )


class _CapturingConnection:
    """A stand-in for a database connection (no server): keeps the statements it is given,
    with their parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[Any, dict[str, Any]]] = []

    def execute(self, statement: Any, parameters: dict[str, Any] | None = None) -> None:
        self.statements.append((statement, parameters or {}))


def _outbox() -> Outbox:
    return Outbox(outbox_table(sa.MetaData()), topic_namespace=NAMESPACE)


def _written_topic(outbox: Outbox, topic: str) -> str:
    connection = _CapturingConnection()
    envelope = Envelope(
        type="OrderCreated",
        aggregate_type="Order",
        aggregate_id="o-1",
        correlation_id="o-1",
        payload={},
    )
    outbox.add(connection, topic, envelope)  # type: ignore[arg-type]
    ((insert, parameters),) = connection.statements
    return {**insert.compile(dialect=postgresql.dialect()).params, **parameters}["topic"]


def _row(topic: str) -> SimpleNamespace:
    return SimpleNamespace(
        id=7,
        event_id=uuid.uuid4(),
        event_type="OrderCreated",
        topic=topic,
        message_key="o-1",
        envelope="{}",
        headers={},
    )


def _relay(outbox: Outbox) -> OutboxRelay:
    engine = sa.create_engine("postgresql+psycopg2:///orders")  # never connected here
    return OutboxRelay(engine, outbox, publisher=None)  # type: ignore[arg-type]


def test_an_outbox_row_names_its_topic_logically_as_the_in_memory_outbox_does():
    assert _written_topic(_outbox(), ORDERS) == ORDERS


def test_the_relay_publishes_a_row_under_the_broker_name_of_its_topic():
    message = _relay(_outbox())._message(_row(ORDERS))
    assert message.topic == "t1a2b3c4d.orders.orders"


def test_a_parked_rows_stub_goes_to_the_dead_letters_of_the_broker_topic_and_names_it():
    relay = _relay(_outbox())
    stub = relay._stub(_Park(_row(ORDERS), "too large", "MSG_SIZE_TOO_LARGE", 2_000_000))
    assert stub.topic == "t1a2b3c4d.orders.orders.dlq"
    assert stub.headers[dlq.ORIGINAL_TOPIC] == "t1a2b3c4d.orders.orders", (
        "as a consumer's dead letter names the topic it was taken from"
    )


#: The shop's code: what the processes and tools run (tests build names their own way).
SHOP_PACKAGES = (
    "bench",
    "console",
    "contracts",
    "eventing",
    "inventory_service",
    "order_service",
    "payment_service",
    "sagas",
    "search_indexer",
    "servicekit",
    "shopctl",
    "testkit",
)
HAND_MADE_NAMES = re.compile(
    r"\{[^{}]*namespace\}"  # f"{settings.topic_namespace}{topic}"
    r"|removeprefix\([^)]*namespace"  # name.removeprefix(settings.topic_namespace)
    r"|startswith\([^)]*namespace"  # name.startswith(settings.topic_namespace)
)


def test_only_eventing_config_puts_the_namespace_in_front_of_a_name_or_takes_it_off():
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in SHOP_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "eventing" / "config.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if HAND_MADE_NAMES.search(line)
    ]
    assert not offenders, "use KafkaSettings.qualify / logical / in_namespace:\n" + "\n".join(
        offenders
    )
