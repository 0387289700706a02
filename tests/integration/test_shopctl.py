"""Operator drills with the real `shopctl` command against the real stack."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from eventing import topics
from eventing.consumer import EventConsumer
from eventing.kafka_offsets import consumer_groups
from eventing.outbox import OutboxRelay, unpublished_count
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from order_service import orm as order_orm
from servicekit.migrations import upgrade
from testkit import ledger
from testkit.cli import run_shopctl
from tests.support.kafka_helpers import read_topic, run_consumer_until
from tests.support.order_messages import product_created

pytestmark = pytest.mark.integration


def shopctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run_shopctl(*args, env=env)


def test_a_bounded_replay_applies_only_its_window_through_the_groups_own_handler(
    scratch_engine, shop_topics
):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("order_service/migrations"), url)
    products = shop_topics.qualify(topics.PRODUCTS)
    publisher = KafkaPublisher(shop_topics)

    def publish(sku: str) -> None:
        event = product_created(sku)
        publisher.publish([OutgoingMessage(products, sku.encode(), envelope_for(event).to_bytes())])

    publish("WIN-A")
    publish("WIN-B")
    time.sleep(0.1)
    cut = datetime.now(UTC)
    time.sleep(0.1)
    publish("AFTER-C")
    env = {
        **os.environ,
        "KAFKA_TOPIC_NAMESPACE": shop_topics.topic_namespace,
        "ORDER_DATABASE_URL": url,
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
    }
    window = ["replay", "--topic", topics.PRODUCTS, "--group", "order-service", "--from-beginning"]
    window += ["--to-time", cut.isoformat()]

    dry = shopctl(*window, "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "2 messages would be re-applied" in dry.stdout

    for _ in range(2):  # the second run is a no-op thanks to the inbox
        replayed = shopctl(*window, env=env)
        assert replayed.returncode == 0, replayed.stderr
        assert "re-applied 2 messages" in replayed.stdout
        with scratch_engine.connect() as connection:
            skus = connection.execute(sa.select(order_orm.catalogue.c.sku)).scalars().all()
        assert sorted(skus) == ["WIN-A", "WIN-B"]
    assert shop_topics.qualify("order-service") not in consumer_groups(shop_topics)


def test_a_bounded_replay_into_a_group_without_a_known_handler_is_refused():
    refused = shopctl(
        "replay",
        "--topic",
        "inventory.products",
        "--group",
        "nobody",
        "--from-beginning",
        "--to-offset",
        "5",
    )
    assert refused.returncode != 0
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert "no handler is known for group 'nobody'" in refused.stderr


def test_a_poisoned_message_redriven_after_the_fix_is_processed_once(
    scratch_engine, kafka_settings, scratch_topic
):
    ledger.metadata.create_all(scratch_engine)
    for seq in (1, 2):
        ledger.add_entry(scratch_engine, scratch_topic, "acct", seq)
    relay = OutboxRelay(scratch_engine, ledger.outbox, KafkaPublisher(kafka_settings))
    while unpublished_count(scratch_engine, ledger.outbox.table):
        relay.publish_pending()
    apply = ledger.applying_handler(scratch_engine)
    bug = {"present": True}

    def handler(decoded):
        if bug["present"] and decoded.event.seq == 1:
            raise ValueError("a bug in the handler")
        apply(decoded)

    consumer = EventConsumer(
        kafka_settings,
        group_id=f"{scratch_topic}-group",
        topics=[scratch_topic],
        handler=handler,
        registry=ledger.registry,
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.05),
    )
    run_consumer_until(consumer, lambda: ledger.applied_count(scratch_engine) == 1)
    dlq = dead_letter_topic(scratch_topic)
    read_topic(kafka_settings, dlq, expected=1)

    listed = shopctl("dlq", "list", "--topic", dlq)
    assert listed.returncode == 0, listed.stderr
    assert "ValueError" in listed.stdout and "a bug in the handler" in listed.stdout

    bug["present"] = False  # the fix is deployed
    redriven = shopctl("dlq", "redrive", "--topic", dlq)
    assert redriven.returncode == 0, redriven.stderr
    assert "redrove 1 dead letter" in redriven.stdout
    run_consumer_until(consumer, lambda: ledger.applied_count(scratch_engine) == 2)

    again = shopctl("dlq", "redrive", "--topic", dlq)
    assert "redrove 0 dead letter" in again.stdout, "each letter is redriven once"
    assert sorted(ledger.applied_rows(scratch_engine)) == [("acct", 1), ("acct", 2)]
    [redriven_message] = [
        m
        for m in read_topic(kafka_settings, scratch_topic, expected=3)
        if dict(m.headers() or []).get("dlq.redriven.from")
    ]
    assert dict(redriven_message.headers())["dlq.attempts"] == b"2", "attempt count kept"


def test_failures_are_one_readable_line_and_a_non_zero_exit():
    for args in (
        ["sagas", "show", "not-a-uuid"],
        ["replay", "--topic", "orders.orders", "--group", "g"],
        ["dlq", "list", "--topic", "no.such.topic.dlq"],
        ["dlq", "discard", "--topic", "no.such.topic.dlq", "0@0", "--reason", "gone"],
        ["dlq", "discard", "--topic", "orders.commands.dlq", "zero", "--reason", "gone"],
    ):
        result = shopctl(*args)
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr
