"""A consumer whose handler is the dispatcher applies each partition's run of messages in one
transaction, on the real Kafka and PostgreSQL, and a failure in a run is the failing message's
alone: what comes before and after it is applied once and in order, and the failing message is
retried or dead-lettered with the attempts it had, as if it had come by itself.

The entries are on the topic (one partition) before the consumer starts, so its polls bring
runs of many messages."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import event

from eventing import dead_letter_headers as dlq
from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer, HoldDatabase
from eventing.delivered import headers_of
from eventing.envelope import Envelope
from eventing.errors import InvalidPayload, TransientError
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import envelope_for
from eventing.retry import RetryPolicy
from eventing.topics import dead_letter_topic
from servicekit.dispatch import Dispatcher
from testkit import ledger
from testkit.scratch import scratch_topics, topic_with_dead_letters
from tests.support.kafka_helpers import read_topic, run_consumer_until

pytestmark = pytest.mark.integration

ACCOUNTS = ("A", "B", "C", "D")
PER_ACCOUNT = 10


@pytest.fixture
def one_partition(kafka_settings) -> Iterator[str]:
    with scratch_topics(kafka_settings, topic_with_dead_letters(partitions=1)) as (topic, _):
        yield topic


@pytest.fixture
def engine(scratch_engine):
    ledger.metadata.create_all(scratch_engine)
    return scratch_engine


def entries() -> list[tuple[str, int]]:
    """A1, B1, C1, D1, A2, …: the accounts' entries interleaved on one partition."""
    return [(account, seq) for seq in range(1, PER_ACCOUNT + 1) for account in ACCOUNTS]


def publish(settings: KafkaSettings, topic: str, items: list[tuple[str, int]]) -> None:
    KafkaPublisher(settings).publish(
        OutgoingMessage(
            settings.qualify(topic),
            account.encode(),
            envelope_for(ledger.EntryAdded(account_id=account, seq=seq, amount_cents=1)).to_bytes(),
        )
        for account, seq in items
    )


def dispatcher(engine, failing: dict[tuple[str, int], list[Exception]]) -> Dispatcher:
    """The ledger's dispatcher, whose use case raises the listed errors for an entry, one per
    call, then applies it; `calls` counts the use case's calls per entry."""
    calls: Counter[tuple[str, int]] = Counter()

    def apply_entry(uow, entry: ledger.EntryAdded) -> None:
        key = (entry.account_id, entry.seq)
        calls[key] += 1
        if failing.get(key):
            raise failing[key].pop(0)
        ledger.apply_entry(uow, entry)

    handler = Dispatcher(ledger.unit_of_work(engine), {ledger.EntryAdded: apply_entry})
    handler.calls = calls  # type: ignore[attr-defined]
    return handler


def consumer(settings, topic, handler, **options) -> EventConsumer:
    return EventConsumer(
        settings,
        group_id=f"batch-{uuid.uuid4().hex[:8]}",
        topics=[topic],
        handler=handler,
        registry=ledger.registry,
        retry=RetryPolicy(max_attempts=3, base_delay_s=0.05, max_delay_s=0.1),
        **options,
    )


def in_order_per_account(rows: list[tuple[str, int]]) -> bool:
    by_account = {a: [seq for acc, seq in rows if acc == a] for a in ACCOUNTS}
    return all(seqs == sorted(seqs) for seqs in by_account.values())


def counting_commits(engine) -> Counter[str]:
    commits: Counter[str] = Counter()
    event.listen(engine, "commit", lambda _connection: commits.update(["commit"]))
    return commits


def test_a_run_of_messages_is_applied_once_each_in_far_fewer_commits(
    kafka_settings, one_partition, engine
):
    publish(kafka_settings, one_partition, entries())
    commits = counting_commits(engine)
    handler = dispatcher(engine, failing={})

    run_consumer_until(
        consumer(kafka_settings, one_partition, handler),
        lambda: ledger.applied_count(engine) >= len(entries()),
    )

    rows = ledger.applied_rows(engine)
    assert sorted(rows) == sorted(entries())
    assert in_order_per_account(rows)
    # 40 messages one transaction each would be 40 commits (and the test's reads add a few).
    assert commits["commit"] <= 40 // 4, commits


def test_a_poisoned_message_in_a_run_is_dead_lettered_alone_and_the_rest_is_applied(
    kafka_settings, one_partition, engine
):
    publish(kafka_settings, one_partition, entries())
    handler = dispatcher(engine, failing={("B", 4): [InvalidPayload("B4 is poisoned")]})

    run_consumer_until(
        consumer(kafka_settings, one_partition, handler),
        lambda: ledger.applied_count(engine) >= len(entries()) - 1,
    )

    rows = ledger.applied_rows(engine)
    assert sorted(rows) == sorted(set(entries()) - {("B", 4)})
    assert in_order_per_account(rows)
    (letter,) = read_topic(
        kafka_settings, kafka_settings.qualify(dead_letter_topic(one_partition)), 1
    )
    assert Envelope.from_bytes(letter.value()).payload["seq"] == 4
    assert dlq.attempts_of(headers_of(letter)) == 1
    assert handler.calls[("B", 4)] == 1  # type: ignore[attr-defined]


def test_a_failing_message_in_a_run_is_tried_max_attempts_times_then_dead_lettered(
    kafka_settings, one_partition, engine
):
    publish(kafka_settings, one_partition, entries())
    bugs = [ValueError(f"bug {n}") for n in range(5)]
    handler = dispatcher(engine, failing={("C", 2): bugs})

    run_consumer_until(
        consumer(kafka_settings, one_partition, handler),
        lambda: ledger.applied_count(engine) >= len(entries()) - 1,
    )

    assert sorted(ledger.applied_rows(engine)) == sorted(set(entries()) - {("C", 2)})
    (letter,) = read_topic(
        kafka_settings, kafka_settings.qualify(dead_letter_topic(one_partition)), 1
    )
    assert dlq.attempts_of(headers_of(letter)) == 3
    assert handler.calls[("C", 2)] == 3  # type: ignore[attr-defined]


def test_a_transient_failure_in_a_run_is_retried_and_nothing_is_applied_twice(
    kafka_settings, one_partition, engine
):
    publish(kafka_settings, one_partition, entries())
    handler = dispatcher(engine, failing={("D", 3): [TransientError("database restarting")] * 2})

    run_consumer_until(
        consumer(kafka_settings, one_partition, handler),
        lambda: ledger.applied_count(engine) >= len(entries()),
    )

    rows = ledger.applied_rows(engine)
    assert sorted(rows) == sorted(entries())
    assert in_order_per_account(rows)
    assert handler.calls[("D", 3)] == 3  # type: ignore[attr-defined]


def test_a_dead_letter_in_a_run_holds_its_key_and_the_other_keys_flow(
    kafka_settings, one_partition, engine
):
    publish(kafka_settings, one_partition, entries())
    handler = dispatcher(engine, failing={("A", 5): [InvalidPayload("A5 is poisoned")]})

    run_consumer_until(
        consumer(
            kafka_settings,
            one_partition,
            handler,
            holds=HoldDatabase(engine, ledger.holds),
        ),
        lambda: ledger.applied_count(engine) >= len(entries()) - (PER_ACCOUNT - 4),
    )

    rows = ledger.applied_rows(engine)
    held_back = {("A", seq) for seq in range(5, PER_ACCOUNT + 1)}
    assert sorted(rows) == sorted(set(entries()) - held_back)
    assert in_order_per_account(rows)
    assert not any(handler.calls[key] for key in held_back - {("A", 5)})  # type: ignore[attr-defined]
