"""The operations `shopctl` and the console share, run through the real `shopctl` against the
real stack: retrying every saga a filter matches (with a dry run first), redriving selected
dead letters, and the audit log that records both."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from contracts import inventory, orders, payment
from eventing import topics
from eventing.consumer import EventConsumer
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import registry
from order_service import orm as order_orm
from sagas.definitions import checkout_saga
from sagas.deployable import DEPLOYABLE
from sagas.framework.engine import SagaEngine, SagaState
from servicekit.migrations import upgrade
from shopctl import dead_letters
from testkit.cli import run_shopctl
from tests.support.kafka_helpers import read_topic, run_consumer_until

pytestmark = pytest.mark.integration
OPERATOR = "integration-tester"


def shopctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_shopctl(*args, env=env)


def environment(shop_topics, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_TOPIC_NAMESPACE": shop_topics.topic_namespace,
        "SHOPCTL_OPERATOR": OPERATOR,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        **extra,
    }


def checkout_saga_of(order_id: str, *, parked: bool):
    """A checkout saga driven through the real engine: parked on its stock release (the
    payment timed out, the release went unanswered), or completed."""
    engine = SagaEngine(checkout_saga(max_compensation_attempts=2, step_attempts=1))
    now = datetime.now(UTC) - timedelta(minutes=30)
    created = orders.OrderCreated(
        order_id=order_id,
        customer_id="tester",
        payment_method="tok_visa",
        total_cents=100,
        items=[{"sku": "SKU-1", "quantity": 1, "unit_price_cents": 100}],
    )
    saga, _ = engine.start(str(uuid.uuid4()), created, now)
    engine.on_reply(
        saga,
        inventory.StockReserved(order_id=order_id, items=[{"sku": "SKU-1", "quantity": 1}]),
        now,
    )
    if parked:
        engine.on_timeout(saga, now + timedelta(seconds=11))
        engine.on_reply(
            saga, payment.PaymentVoided(order_id=order_id, payment_id="p", amount_cents=100), now
        )
        for minutes in (1, 2, 3):
            engine.on_timeout(saga, now + timedelta(minutes=minutes))
        assert saga.state is SagaState.COMPENSATION_FAILED
    else:
        for reply in (
            payment.PaymentAuthorized(order_id=order_id, payment_id="p", amount_cents=100),
            payment.PaymentCaptured(order_id=order_id, payment_id="p", amount_cents=100),
            inventory.StockCommitted(order_id=order_id),
            orders.OrderApproved(order_id=order_id),
        ):
            engine.on_reply(saga, reply, now)
        assert saga.state is SagaState.COMPLETED
    return saga


def test_retrying_by_filter_shows_the_matches_first_and_retries_only_retriable_sagas(
    scratch_engine, shop_topics
):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    sessions = sessionmaker(scratch_engine, expire_on_commit=False)
    tables = DEPLOYABLE.tables
    assert DEPLOYABLE.unit_of_work is not None and tables is not None
    uow_factory = partial(
        DEPLOYABLE.unit_of_work,
        sessions,
        Outbox(tables.outbox),
        Inbox(tables.inbox, DEPLOYABLE.name),
    )
    parked = checkout_saga_of("order-parked", parked=True)
    completed = checkout_saga_of("order-done", parked=False)
    with uow_factory() as uow:
        assert uow.sagas.add(parked) and uow.sagas.add(completed)
        uow.commit()
    env = environment(shop_topics, SAGAS_DATABASE_URL=url)

    fresh = shopctl("sagas", "retry", "--older-than", "10m", "--dry-run", env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert "dry run: 0 saga(s) would be retried" in fresh.stdout, "both changed just now"
    dry = shopctl("sagas", "retry", "--type", "checkout", "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert parked.saga_id in dry.stdout and completed.saga_id not in dry.stdout
    assert "dry run: 1 saga(s) would be retried" in dry.stdout
    with uow_factory() as uow:
        assert uow.sagas.get(parked.saga_id).state is SagaState.COMPENSATION_FAILED

    retried = shopctl("sagas", "retry", "--type", "checkout", "--yes", env=env)
    assert retried.returncode == 0, retried.stderr
    assert "retried 1 of 1 saga(s)" in retried.stdout
    with uow_factory() as uow:
        now_parked = uow.sagas.get(parked.saga_id)
        assert now_parked.state is SagaState.COMPENSATING
        assert now_parked.log[-1].detail == "operator retry"
        assert uow.sagas.get(completed.saga_id).state is SagaState.COMPLETED
    with Session(scratch_engine) as session:
        outbox = order_orm.outbox
        sent = session.execute(
            sa.select(outbox.c.event_type).where(outbox.c.message_key == "order-parked")
        ).scalars()
        assert list(sent) == ["ReleaseStock"], "the compensation, resent"

    unconfirmed = subprocess.run(
        [sys.executable, "-m", "shopctl", "sagas", "retry", "--state", "COMPENSATING"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert unconfirmed.returncode != 0, "without --yes and nobody to confirm, nothing is retried"

    audit = shopctl("audit", env=env)
    assert audit.returncode == 0, audit.stderr
    assert f"shopctl:{OPERATOR}" in audit.stdout and "sagas.retry-matching" in audit.stdout
    assert "retried 1 of 1" in audit.stdout


def test_a_retry_needs_a_saga_id_or_a_filter(shop_topics):
    refused = shopctl("sagas", "retry", env=environment(shop_topics))
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0 and "give a saga id" in refused.stderr


def test_redriving_selected_dead_letters_sends_back_only_those_and_records_who(shop_topics):
    commands = shop_topics.qualify(topics.ORDER_COMMANDS)
    KafkaPublisher(shop_topics).publish(
        [OutgoingMessage(commands, key, b"not an envelope") for key in (b"first", b"second")]
    )
    consumer = EventConsumer(
        shop_topics,
        group_id="redrive-test",
        topics=[topics.ORDER_COMMANDS],
        handler=lambda decoded: None,
        registry=registry,
    )
    dlq = shop_topics.qualify(topics.dead_letter_topic(topics.ORDER_COMMANDS))
    run_consumer_until(consumer, lambda: len(dead_letters.letters(shop_topics, dlq)) == 2)
    second = next(
        letter for letter in dead_letters.letters(shop_topics, dlq) if letter.key == b"second"
    )
    at = dead_letters.position(second)

    env = environment(shop_topics)
    redriven = shopctl(
        "dlq",
        "redrive",
        "--topic",
        topics.dead_letter_topic(topics.ORDER_COMMANDS),
        "--at",
        at,
        env=env,
    )
    assert redriven.returncode == 0, redriven.stderr
    assert "redrove 1 dead letter(s)" in redriven.stdout
    copies = [
        message
        for message in read_topic(shop_topics, commands, expected=3)
        if dict(message.headers() or []).get("dlq.redriven.from")
    ]
    assert [message.key() for message in copies] == [b"second"]
    assert (
        dict(copies[0].headers())["dlq.redriven.from"]
        == f"{dlq}[{second.partition}]@{second.offset}".encode()
    )

    by_reason = shopctl("dlq", "redrive", "--topic", dlq, "--reason", "no such reason", env=env)
    assert by_reason.returncode != 0 and "matches the selection" in by_reason.stderr
    audit = shopctl("audit", env=env)
    assert "dlq.redrive" in audit.stdout and at in audit.stdout
