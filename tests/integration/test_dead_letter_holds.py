"""A dead letter holds back its key, on the real Kafka and PostgreSQL, operated with the real
`shopctl`: a poisoned A1, then A2, A3 and B1 on the same partition. B1 is applied, A2 and A3
wait behind the letter; redriving the fixed A1, or discarding it, releases them in order.

shopctl finds a group's holds in its service's database. The ledger consumer stands in for the
order service here: it consumes as the group `order-service` under a namespace of the test's
own, and `ORDER_DATABASE_URL` points shopctl at the ledger's scratch database."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer, HoldDatabase
from eventing.held import HoldStore
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from testkit import ledger
from testkit.cli import run_shopctl
from testkit.scratch import scratch_topics, topic_with_dead_letters
from tests.support.kafka_helpers import read_topic, run_consumer_until

pytestmark = pytest.mark.integration

GROUP = "order-service"
SERVICES = ("ORDER", "INVENTORY", "PAYMENT", "SAGAS")


@pytest.fixture
def namespaced_topic() -> Iterator[tuple[KafkaSettings, str]]:
    """Kafka settings under a namespace of this test's own (its groups too), and a topic of a
    single partition (so A and B share it) with its dead-letter topic."""
    settings = KafkaSettings.from_env(
        client_id="eventshop-tests", admin_timeout_s=30, topic_namespace=f"t{uuid.uuid4().hex[:8]}."
    )
    with scratch_topics(settings, topic_with_dead_letters(partitions=1)) as (topic, _):
        yield settings, topic


@pytest.fixture
def engine(scratch_engine):
    ledger.metadata.create_all(scratch_engine)
    return scratch_engine


class Shop:
    """The ledger consumer with a handler that has a bug for one entry, and shopctl on it."""

    def __init__(self, settings: KafkaSettings, topic: str, engine):
        self.settings = settings
        self.topic = topic
        self.engine = engine
        self.bug_for: tuple[str, int] | None = ("A", 1)
        apply = ledger.applying_handler(engine)

        def handler(decoded) -> None:
            event = decoded.event
            if (event.account_id, event.seq) == self.bug_for:
                raise ValueError(f"a bug in the handler for {event.account_id}{event.seq}")
            apply(decoded)

        self.consumer = EventConsumer(
            settings,
            group_id=GROUP,
            topics=[topic],
            handler=handler,
            registry=ledger.registry,
            retry=RetryPolicy(max_attempts=2, base_delay_s=0.05, max_delay_s=0.1),
            holds=HoldDatabase(engine, ledger.holds),
        )
        self.holds = HoldStore(engine, ledger.holds, settings.qualify(GROUP))
        self.publisher = KafkaPublisher(settings)

    def publish(self, *entries: tuple[str, int]) -> None:
        self.publisher.publish(
            OutgoingMessage(
                self.settings.qualify(self.topic),
                account.encode(),
                envelope_for(
                    ledger.EntryAdded(account_id=account, seq=seq, amount_cents=1)
                ).to_bytes(),
            )
            for account, seq in entries
        )

    def run_until(self, condition, timeout_s: float = 90.0) -> None:
        run_consumer_until(self.consumer, condition, timeout_s=timeout_s)

    def applied(self) -> list[tuple[str, int]]:
        return ledger.applied_rows(self.engine)

    def held(self) -> int:
        return sum(summary.held for summary in self.holds.summaries())

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.topic)

    def shopctl(self, *args: str) -> subprocess.CompletedProcess:
        url = self.engine.url.render_as_string(hide_password=False)
        env = {
            **os.environ,
            "KAFKA_TOPIC_NAMESPACE": self.settings.topic_namespace,
            # Every service's holds are looked for in the scratch database: only the
            # order-service group has any.
            **{f"{service}_DATABASE_URL": url for service in SERVICES},
            "OTEL_TRACES_EXPORTER": "none",
            "OTEL_METRICS_EXPORTER": "none",
        }
        result = run_shopctl(*args, env=env)
        assert result.returncode == 0, result.stderr
        return result


@pytest.fixture
def shop(namespaced_topic, engine) -> Shop:
    shop = Shop(*namespaced_topic, engine)
    shop.publish(("A", 1), ("A", 2), ("A", 3), ("B", 1))
    shop.run_until(lambda: shop.applied() == [("B", 1)] and shop.consumer.parked == 2)
    return shop


def test_later_messages_of_a_dead_lettered_key_are_held_while_other_keys_flow(shop):
    assert shop.applied() == [("B", 1)], "A2 and A3 are not applied before A1"
    [letter] = read_topic(shop.settings, shop.settings.qualify(shop.dead_letter_topic), expected=1)
    assert letter.key() == b"A"
    [hold] = shop.holds.summaries()
    assert (hold.key, hold.held) == (b"A", 2)
    assert "ValueError: a bug in the handler for A1" in hold.reason

    listed = shop.shopctl("dlq", "list", "--topic", shop.dead_letter_topic)
    assert "2 held, oldest" in listed.stdout
    overview = shop.shopctl("dlq", "list")
    [row] = [line for line in overview.stdout.splitlines() if shop.dead_letter_topic in line]
    cells = [cell.strip() for cell in re.split("[│┃|]", row) if cell.strip()]
    assert cells[1:] == ["1", "2"], "one letter, two messages held behind it"


def test_a_redriven_letter_applied_after_the_fix_releases_its_key_in_order_once_each(shop):
    shop.bug_for = None  # the fix is deployed
    redriven = shop.shopctl("dlq", "redrive", "--topic", shop.dead_letter_topic)
    assert "redrove 1 dead letter" in redriven.stdout

    shop.run_until(lambda: len(shop.applied()) >= 4 and not shop.holds.summaries())
    assert shop.applied() == [("B", 1), ("A", 1), ("A", 2), ("A", 3)]
    assert shop.held() == 0

    shop.publish(("A", 4))  # the key flows normally again
    shop.run_until(lambda: len(shop.applied()) >= 5)
    assert shop.applied()[4:] == [("A", 4)]
    assert shop.consumer.parked == 2, "nothing more was held"


def test_a_discarded_letter_releases_its_key_in_order_and_a_later_redrive_skips_it(shop):
    discarded = shop.shopctl(
        "dlq", "discard", "--topic", shop.dead_letter_topic, "0@0", "--reason", "entry withdrawn"
    )
    assert "released 2 held message(s)" in discarded.stdout

    shop.run_until(lambda: len(shop.applied()) >= 3 and not shop.holds.summaries())
    assert shop.applied() == [("B", 1), ("A", 2), ("A", 3)]
    listed = shop.shopctl("dlq", "list", "--topic", shop.dead_letter_topic)
    assert "discarded (entry withdrawn)" in listed.stdout

    shop.bug_for = None
    shop.shopctl("dlq", "redrive", "--topic", shop.dead_letter_topic)
    processed = shop.consumer.processed
    shop.publish(("A", 4))
    shop.run_until(lambda: shop.consumer.processed >= processed + 2)  # the copy, then A4
    assert shop.applied() == [("B", 1), ("A", 2), ("A", 3), ("A", 4)], "A1 stays discarded"


def test_a_held_message_that_fails_for_good_becomes_the_keys_letter_and_holds_the_rest(shop):
    shop.bug_for = ("A", 2)  # the fix for A1 exposes a bug for A2
    shop.shopctl("dlq", "redrive", "--topic", shop.dead_letter_topic)
    shop.run_until(lambda: len(shop.applied()) >= 2 and shop.held() == 1)
    assert shop.applied() == [("B", 1), ("A", 1)]
    [hold] = shop.holds.summaries()
    assert hold.held == 1 and not hold.released
    assert "for A2" in hold.reason
    letters = read_topic(shop.settings, shop.settings.qualify(shop.dead_letter_topic), expected=2)
    assert [letter.key() for letter in letters] == [b"A", b"A"]

    shop.bug_for = None
    shop.shopctl("dlq", "redrive", "--topic", shop.dead_letter_topic)
    shop.run_until(lambda: len(shop.applied()) >= 4 and not shop.holds.summaries())
    assert shop.applied() == [("B", 1), ("A", 1), ("A", 2), ("A", 3)]
