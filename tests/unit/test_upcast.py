"""One event in two versions: RejectOrder v2 (a `rejection` with a code and a detail) beside v1
(a `reason`). Both decode from the wire, and v1 upcasts to what it meant in v2's shape."""

from __future__ import annotations

import pytest

from contracts import orders
from eventing.errors import InvalidPayload
from eventing.registry import envelope_for, registry
from shopctl.contract_documents import json_schemas

V1 = orders.RejectOrder(order_id="o-1", reason="OUT_OF_STOCK")
V2 = orders.RejectOrderV2(
    order_id="o-2", rejection=orders.Rejection(code="TIMEOUT", detail="payment did not answer")
)


def test_each_version_decodes_from_the_wire_to_its_own_model():
    for command, model in ((V1, orders.RejectOrder), (V2, orders.RejectOrderV2)):
        decoded = registry.decode(envelope_for(command).to_bytes())
        assert (decoded.envelope.type, decoded.envelope.schema_version) == (
            "RejectOrder",
            model.schema_version,
        )
        assert type(decoded.event) is model
        assert decoded.event == command


def test_a_v1_upcasts_to_the_v2_it_means_and_a_v2_is_left_as_it_is():
    assert orders.upcast_reject_order(V1) == orders.RejectOrderV2(
        order_id="o-1", rejection=orders.Rejection(code="OUT_OF_STOCK", detail="")
    )
    assert orders.upcast_reject_order(V2) is V2


def test_a_v1_payload_is_not_a_valid_v2_nor_the_reverse():
    v1_as_v2 = envelope_for(V1).model_copy(update={"schema_version": 2})
    with pytest.raises(InvalidPayload, match="RejectOrder v2"):
        registry.decode(v1_as_v2.to_bytes())
    v2_as_v1 = envelope_for(V2).model_copy(update={"schema_version": 1})
    with pytest.raises(InvalidPayload, match="RejectOrder v1"):
        registry.decode(v2_as_v1.to_bytes())


def test_both_versions_have_a_schema_and_v2_would_break_v1():
    from contracts.compatibility import breaking_changes

    schemas = json_schemas()
    v1, v2 = schemas["RejectOrder.v1.json"], schemas["RejectOrder.v2.json"]
    assert breaking_changes(v1, v2) == [
        "reason removed",
        "rejection required (a new field before)",
    ], "why it is a new version rather than a change to v1"
