"""Event envelopes and the contract registry: what is accepted, and what is poison."""

from __future__ import annotations

import json
import uuid

import pytest

from contracts import inventory, orders
from eventing.envelope import Envelope
from eventing.errors import InvalidPayload, UndecodableMessage, UnknownEventType
from eventing.registry import envelope_for, registry
from eventing.retry import RetryPolicy


def reserve() -> inventory.ReserveStock:
    return inventory.ReserveStock(order_id="o-1", items=[{"sku": "SKU-1", "quantity": 2}])


def test_an_envelope_is_keyed_by_its_aggregate_and_round_trips_through_bytes():
    envelope = envelope_for(reserve())
    assert envelope.key() == b"o-1"
    assert (envelope.type, envelope.schema_version, envelope.aggregate_type) == (
        "ReserveStock",
        1,
        "Reservation",
    )
    decoded = registry.decode(envelope.to_bytes())
    assert decoded.envelope == envelope
    assert decoded.event == reserve()


def test_a_caused_event_inherits_the_correlation_id_and_names_its_cause():
    cause = envelope_for(reserve(), correlation_id="saga-7")
    effect = envelope_for(inventory.StockReleased(order_id="o-1"), causation=cause)
    assert effect.correlation_id == "saga-7"
    assert effect.causation_id == str(cause.event_id)


@pytest.mark.parametrize("value", [None, b"", b"\xff\xfe", b"[]", b'{"type": "x"}'])
def test_bytes_that_are_not_an_envelope_are_undecodable(value):
    with pytest.raises(UndecodableMessage):
        registry.decode(value)


def test_an_unknown_type_or_version_is_refused_by_name():
    envelope = envelope_for(reserve())
    for changed in ({"type": "Nope"}, {"schema_version": 9}):
        with pytest.raises(UnknownEventType):
            registry.decode(envelope.model_copy(update=changed).to_bytes())


def test_an_invalid_payload_names_the_offending_field():
    envelope = envelope_for(reserve()).model_copy(
        update={"payload": {"order_id": "o-1", "items": [{"sku": "SKU-1", "quantity": 0}]}}
    )
    with pytest.raises(InvalidPayload, match=r"items\.0\.quantity"):
        registry.decode(envelope.to_bytes())


def test_money_is_integer_cents_and_floats_are_refused():
    with pytest.raises(ValueError):
        orders.OrderCreated(
            order_id="o",
            customer_id="c",
            payment_method="tok_visa",
            total_cents=12.5,
            items=[{"sku": "S", "quantity": 1, "unit_price_cents": 1}],
        )


def test_every_message_type_names_its_topic_and_aggregate():
    for event_type, version in registry.types():
        model = registry.model_for(event_type, version)
        assert model.topic and model.aggregate_type and model.aggregate_key, event_type


def test_retry_delays_grow_exponentially_within_jittered_bounds_and_are_capped():
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=1.0)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (10, 1.0)]:
        for _ in range(20):
            assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_envelopes_refuse_unknown_fields():
    raw = envelope_for(reserve()).model_dump(mode="json")
    assert Envelope.from_bytes(json.dumps(raw).encode()).event_id == uuid.UUID(raw["event_id"])
    with pytest.raises(UndecodableMessage, match="surprise"):
        Envelope.from_bytes(json.dumps(raw | {"surprise": 1}).encode())
