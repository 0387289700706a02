"""Payment on the real PostgreSQL and Kafka: each token's outcome, idempotent commands, the
read API, and a command answered through Kafka."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from contracts import payment as messages
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Decoded, envelope_for
from payment_service import orm
from payment_service.config import Settings
from payment_service.deployable import DEPLOYABLE
from servicekit.migrations import upgrade
from tests.support.kafka_helpers import replies_through_kafka

pytestmark = pytest.mark.integration


@pytest.fixture
def app(scratch_engine, shop_topics, customer_tokens):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("payment_service/migrations"), url)
    return DEPLOYABLE.runtime(
        Settings(database_url=url, customer_tokens=customer_tokens.settings()), shop_topics
    )


@pytest.fixture
def client(app, customer_tokens):
    """A client sending customer c-1's token (the customer `authorize` pays for)."""
    client = app.flask_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = customer_tokens.headers("c-1")["Authorization"]
    return client


@pytest.fixture
def admin_client(app):
    client = app.flask_app().test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {app.settings.admin_token}"
    return client


@pytest.fixture
def handle(app):
    return app.dispatcher


def command(event) -> Decoded:
    return Decoded(envelope_for(event, correlation_id="saga-1"), event)


def authorize(order_id: str, token: str = "tok_visa", amount: int = 2500) -> Decoded:
    return command(
        messages.AuthorizePayment(
            order_id=order_id, customer_id="c-1", amount_cents=amount, payment_method=token
        )
    )


def replies(app, order_id: str) -> list[Envelope]:
    with app.engine.connect() as connection:
        rows = connection.execute(select(orm.outbox.c.envelope).order_by(orm.outbox.c.id))
        return [
            e
            for e in (Envelope.model_validate_json(r.envelope) for r in rows)
            if e.aggregate_id == order_id
        ]


def shown(client, order_id: str) -> list[tuple[str, int]]:
    response = client.get(f"/payments?order_id={order_id}")
    assert response.status_code == 200
    return [(p["status"], p["amount_cents"]) for p in response.json["items"]]


@pytest.mark.parametrize(
    ("token", "reply", "status"),
    [
        ("tok_visa", "PaymentAuthorized", "AUTHORIZED"),
        ("tok_declined", "PaymentDeclined", "DECLINED"),
        ("tok_insufficient_funds", "PaymentDeclined", "DECLINED"),
    ],
)
def test_each_token_gets_its_outcome_and_reply(app, client, handle, token, reply, status):
    handle(authorize("o-1", token))
    assert [e.type for e in replies(app, "o-1")] == [reply]
    assert shown(client, "o-1") == [(status, 2500)]


def test_an_amount_above_2_to_the_31_cents_is_authorised_and_shown_exactly(app, client, handle):
    handle(authorize("o-big", amount=214_748_364_700))
    assert shown(client, "o-big") == [("AUTHORIZED", 214_748_364_700)]
    assert replies(app, "o-big")[0].payload["amount_cents"] == 214_748_364_700


def test_insufficient_funds_is_named_as_the_decline_reason(app, handle):
    handle(authorize("o-1", "tok_insufficient_funds"))
    assert replies(app, "o-1")[0].payload["reason"] == "INSUFFICIENT_FUNDS"


def test_a_processor_that_never_answers_sends_nothing_and_a_void_then_blocks_the_order(
    app, client, handle
):
    handle(authorize("o-1", "tok_timeout"))
    assert replies(app, "o-1") == []
    assert shown(client, "o-1") == [], "a pending attempt is not a payment"
    handle(command(messages.VoidPayment(order_id="o-1")))
    handle(authorize("o-1", "tok_visa"))  # a retried authorisation after the void
    assert [e.type for e in replies(app, "o-1")] == ["PaymentVoided", "PaymentVoided"]
    assert [status for status, _ in shown(client, "o-1")] == ["VOIDED"]


def test_voiding_an_order_never_authorised_records_a_void_of_nothing(
    app, client, admin_client, handle
):
    handle(command(messages.VoidPayment(order_id="o-9")))
    assert shown(admin_client, "o-9") == [("VOIDED", 0)]
    handle(authorize("o-9"))
    assert shown(admin_client, "o-9") == [("VOIDED", 0)]
    assert shown(client, "o-9") == [], "a void of nothing names no customer: only the admin's"


def test_authorise_capture_refund_happen_once_however_often_the_commands_come(app, client, handle):
    first = authorize("o-2")
    handle(first)
    handle(first)  # the same event: dropped by the inbox
    handle(authorize("o-2"))  # a retried command: the same reply, no second payment
    for _ in range(2):
        handle(command(messages.CapturePayment(order_id="o-2")))
    assert shown(client, "o-2") == [("CAPTURED", 2500)]
    for _ in range(2):
        handle(command(messages.RefundPayment(order_id="o-2")))
    assert shown(client, "o-2") == [("REFUNDED", 2500)]
    types = [e.type for e in replies(app, "o-2")]
    assert types == [
        "PaymentAuthorized",
        "PaymentAuthorized",
        "PaymentCaptured",
        "PaymentCaptured",
        "PaymentRefunded",
        "PaymentRefunded",
    ]
    payment_ids = {e.payload["payment_id"] for e in replies(app, "o-2")}
    assert len(payment_ids) == 1


def test_capturing_a_declined_payment_is_refused(app, handle):
    handle(authorize("o-3", "tok_declined"))
    with pytest.raises(Exception, match="cannot become CAPTURED"):
        handle(command(messages.CapturePayment(order_id="o-3")))


def test_the_read_api_needs_an_order_id_and_knows_payments_by_id(app, client, handle):
    assert client.get("/payments").status_code == 422
    assert client.get("/payments?order_id=nobody").json == {"items": []}
    handle(authorize("o-4"))
    [payment] = client.get("/payments?order_id=o-4").json["items"]
    assert client.get(f"/payments/{payment['payment_id']}").json == payment
    assert client.get(f"/payments/{uuid.uuid4()}").status_code == 404
    assert client.get("/payments/not-a-uuid").status_code == 404
    assert "/payments/{payment_id}" in client.get("/openapi.json").json["paths"]


def test_an_authorise_command_on_kafka_is_answered_on_kafka(app, shop_topics):
    request = authorize(f"order-{uuid.uuid4().hex[:8]}").envelope
    mine = replies_through_kafka(
        shop_topics, app.tasks(), request, topics.PAYMENT_COMMANDS, topics.PAYMENTS
    )
    assert [d.envelope.type for d in mine] == ["PaymentAuthorized"]
    assert mine[0].envelope.correlation_id == "saga-1"
