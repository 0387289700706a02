"""Large money is stored exactly, and bad input is never a 5xx even when only the database
notices it: a value too large for its column is a 422 problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from contracts import inventory
from eventing.registry import Decoded, envelope_for
from order_service.config import Settings
from order_service.deployable import DEPLOYABLE
from servicekit.migrations import upgrade
from servicekit.problems import install_problem_handlers

pytestmark = pytest.mark.integration

INT32_MAX = 2_147_483_647


def test_an_order_totalling_more_than_2_to_the_31_cents_keeps_its_exact_total(
    scratch_engine, shop_topics, customer_tokens
):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    app = DEPLOYABLE.runtime(
        Settings(database_url=url, customer_tokens=customer_tokens.settings()), shop_topics
    )
    expensive = inventory.ProductCreated(
        sku="GOLD-1",
        version=1,
        name="Gold bar",
        description="",
        category="c",
        price_cents=INT32_MAX,
        attributes={},
        stock_on_hand=1000,
        stock_reserved=0,
        stock_available=1000,
    )
    app.dispatcher(Decoded(envelope_for(expensive), expensive))
    client = app.flask_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = customer_tokens.headers("c")["Authorization"]

    response = client.post(
        "/orders",
        headers={"Idempotency-Key": "k-1"},
        json={
            "customer_id": "c",
            "payment_method": "tok_visa",
            "items": [{"sku": "GOLD-1", "quantity": 1000}],
        },
    )

    assert response.status_code == 202, response.json
    order = client.get(f"/orders/{response.json['order_id']}").json
    assert order["total_cents"] == 1000 * INT32_MAX


def test_a_value_the_database_refuses_is_a_422_problem(scratch_engine):
    app = Flask(__name__)
    install_problem_handlers(app)

    @app.get("/store/<int:value>")
    def store(value: int):
        with scratch_engine.connect() as connection:
            connection.execute(sa.text("SELECT CAST(:value AS integer)"), {"value": value})
        return {"stored": value}

    client = app.test_client()
    assert client.get(f"/store/{INT32_MAX}").status_code == 200
    response = client.get(f"/store/{INT32_MAX + 1}")
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert "out of the range" in response.json["detail"]
