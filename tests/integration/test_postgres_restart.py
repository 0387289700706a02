"""A PostgreSQL restart (kill -9, then started again on the same data) costs the shop's processes
no more than the outage: the outbox relay is woken by NOTIFY again, the saga timeout loop keeps
expiring sagas, and an API answers 503 problem+json while the server is down and 2xx after.

The server is a private one (`testkit.private_stack`), so killing it touches no other test."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from contracts import orders
from eventing.errors import TransientError
from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher
from eventing.registry import Decoded, envelope_for
from order_service.config import Settings as OrderSettings
from order_service.deployable import DEPLOYABLE as ORDERS
from sagas.config import Settings as SagaSettings
from sagas.deployable import DEPLOYABLE as SAGAS
from sagas.deployable import SagaRuntime, orchestrator
from sagas.framework.engine import SagaState
from servicekit.db import make_engine
from servicekit.migrations import upgrade
from testkit import ledger
from testkit.conditions import wait_for
from testkit.private_stack import PrivateStack, private_stack
from testkit.scratch import scratch_database

pytestmark = pytest.mark.integration

#: Longer than any wait below: a relay woken within it was woken by a notification.
IDLE_POLL_S = 600.0
#: How long a loaded 2-core machine may need for anything below once the server is back.
PATIENCE_S = 60.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivateStack]:
    with private_stack(["postgres"]) as stack:
        yield stack


@pytest.fixture
def database(postgres) -> Iterator[str]:
    """A new database on the private server; its SQLAlchemy URL."""
    with scratch_database(pool_size=2, url_template=postgres.postgres_url_template) as engine:
        yield engine.url.render_as_string(hide_password=False)


def restart(postgres: PrivateStack) -> None:
    postgres["postgres"].kill()
    postgres["postgres"].up()


def succeeds(action: Callable[[], object]) -> bool:
    """Whether `action` ran without a database error (the server may still be starting)."""
    try:
        action()
    except (sa.exc.DBAPIError, TransientError):
        return False
    return True


def running(task) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(target=task, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_a_relay_is_woken_by_notify_again_after_postgres_restarted(
    postgres, database, kafka_settings, scratch_topic
):
    """The relay's engine is a worker's (no pre-ping): after the restart every pooled
    connection is dead, and its LISTEN must come back on a fresh one. The rows are written
    through an engine of their own, as an API process would."""
    writer = sa.create_engine(database, pool_pre_ping=True)
    ledger.metadata.create_all(writer)
    relay_engine = make_engine(database, pool_size=2, pre_ping=False)
    relay = OutboxRelay(
        relay_engine, ledger.outbox, KafkaPublisher(kafka_settings), idle_poll_s=IDLE_POLL_S
    )
    stop, thread = running(relay.run)
    try:
        ledger.add_entry(writer, scratch_topic, "acct-1", 0)
        wait_for(
            lambda: unpublished_count(writer, ledger.outbox.table) == 0,
            PATIENCE_S,
            "the first row to be published",
        )
        restart_at = time.monotonic()
        restart(postgres)
        wait_for(
            lambda: succeeds(lambda: ledger.add_entry(writer, scratch_topic, "acct-1", 1)),
            PATIENCE_S,
            "PostgreSQL to take writes again",
        )
        wait_for(
            lambda: unpublished_count(writer, ledger.outbox.table) == 0,
            PATIENCE_S,
            "the row written after the restart to be published (woken by NOTIFY)",
        )
        assert time.monotonic() - restart_at < IDLE_POLL_S
        assert thread.is_alive(), "the relay died"
    finally:
        stop.set()
        thread.join(30)
        writer.dispose()
        relay_engine.dispose()


def start_checkout(app: SagaRuntime, order_id: str) -> None:
    """The orchestrator's handling of an order, as its consumer would call it."""
    created = orders.OrderCreated(
        order_id=order_id,
        customer_id="c-1",
        payment_method="tok_visa",
        total_cents=2500,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 2500}],
    )
    app.dispatcher(Decoded(envelope_for(created), created))


def saga_state(reader: SagaRuntime, order_id: str) -> SagaState | None:
    with reader.uow_factory() as uow:
        instance = uow.sagas.find("checkout", order_id)
    return None if instance is None else instance.state


def test_the_saga_timeout_loop_keeps_expiring_sagas_after_a_postgres_restart(
    postgres, database, shop_topics
):
    """No participant answers, so each saga's first step times out a second after its command
    was published (the relay runs beside the loop, as in a worker): the loop (a worker's
    engine, no pre-ping) must apply that to a saga started after the restart too."""
    upgrade(Path("order_service/migrations"), database)
    settings = SagaSettings(database_url=database, reply_timeout_s=1.0, step_attempts=1)
    app = SAGAS.runtime(settings.for_worker(), shop_topics)
    reader = SAGAS.runtime(settings, shop_topics)  # an engine of its own, with pre-ping
    relay_stop, relay_thread = running(app.relay().run)
    stop, thread = running(orchestrator(app).run_timeouts)
    expired = set(SagaState) - {SagaState.RUNNING, SagaState.COMPLETED}
    try:
        start_checkout(app, "before-restart")
        wait_for(
            lambda: saga_state(reader, "before-restart") in expired,
            PATIENCE_S,
            "the first saga to time out",
        )
        restart(postgres)
        after = f"after-restart-{uuid.uuid4().hex[:6]}"
        wait_for(
            lambda: succeeds(lambda: start_checkout(app, after)),
            PATIENCE_S,
            "PostgreSQL to take a saga again",
        )
        wait_for(
            lambda: saga_state(reader, after) in expired,
            PATIENCE_S,
            "the saga started after the restart to time out",
        )
        assert thread.is_alive(), "the timeout loop died"
        assert relay_thread.is_alive(), "the relay died"
    finally:
        stop.set()
        relay_stop.set()
        thread.join(30)
        relay_thread.join(30)
        reader.engine.dispose()
        app.engine.dispose()


def test_an_api_answers_503_problem_json_while_postgres_is_down_and_2xx_once_it_is_back(
    postgres, database, shop_topics, customer_tokens
):
    upgrade(Path("order_service/migrations"), database)
    settings = OrderSettings(database_url=database, customer_tokens=customer_tokens.settings())
    app = ORDERS.runtime(settings, shop_topics)
    client = app.flask_app().test_client()
    support = {"Authorization": f"Bearer {app.settings.admin_token}"}  # reads any customer's
    listing = {"query_string": {"customer_id": "c-1"}, "headers": support}
    assert client.get("/orders", **listing).status_code == 200

    postgres["postgres"].kill()
    try:
        started = time.monotonic()
        down = client.get("/orders", **listing)
        assert down.status_code == 503, down.get_data(as_text=True)
        assert down.mimetype == "application/problem+json"
        assert down.headers["Retry-After"]
        assert time.monotonic() - started < 10, "answered, not hung on the dead server"
    finally:
        postgres["postgres"].up()

    back = client.get("/orders", **listing)
    assert back.status_code == 200, back.get_data(as_text=True)
    app.engine.dispose()
