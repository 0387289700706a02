"""Bad input is never a 5xx, even when only the database notices it: a value too large for
its column is a 422 problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import inventory
from eventing.registry import Decoded, envelope_for
from order_service.bootstrap import bootstrap
from order_service.config import Settings
from servicekit.migrations import upgrade

pytestmark = pytest.mark.integration


def test_an_order_whose_total_overflows_what_can_be_stored_is_a_422(scratch_engine, shop_topics):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    app = bootstrap(Settings(database_url=url), shop_topics)
    expensive = inventory.ProductCreated(
        sku="GOLD-1",
        version=1,
        name="Gold bar",
        description="",
        category="c",
        price_cents=2_000_000_000,
        attributes={},
        stock_on_hand=9,
        stock_reserved=0,
        stock_available=9,
    )
    app.handler()(Decoded(envelope_for(expensive), expensive))

    response = (
        app.flask_app()
        .test_client()
        .post(
            "/orders",
            headers={"Idempotency-Key": "k-1"},
            json={
                "customer_id": "c",
                "payment_method": "tok_visa",
                "items": [{"sku": "GOLD-1", "quantity": 2}],
            },
        )
    )
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
