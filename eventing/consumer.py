"""The shop's Kafka consumer: at-least-once delivery, ordered retries, dead letters.

- An offset is stored only after the handler returned (its database transaction committed) or
  the message went to its dead-letter topic, and librdkafka commits stored offsets; so a crash
  redelivers, and the handler's inbox makes the redelivery harmless.
- A `TransientError` (database or broker down, deadlock) pauses the message's partition and
  retries the same message after an exponential backoff with jitter, as long as it takes: the
  partition's order holds and nothing is skipped. Other partitions keep flowing.
- A `PoisonMessage` (undecodable, unknown type, invalid payload) goes straight to `<topic>.dlq`;
  any other exception is retried `max_attempts` times before it does. The dead letter carries
  the original message and headers saying where it came from and why it failed.
- With a hold database (every service's consumer has one), a dead letter holds back its key:
  later messages of that key are parked beside it, in order, until the letter is redriven and
  applied or discarded, then released in order through the same handler (see eventing.held).
- A handler that takes batches (`BatchHandler`: the services' dispatcher) is given each
  partition's run of the messages a poll returned, applied in one transaction: one commit for
  the run instead of one per message. A message that needs more than that (a retry, a held key,
  a redriven letter) goes alone; a failure inside a run is the failing message's alone: the
  messages before it are applied again together, the failing one is retried or dead-lettered
  exactly as if it had come alone, and the run goes on after it.
- `stop` (set by SIGTERM in the worker) ends the loop after the run in hand; stored offsets
  are committed on partition revocation and on close.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine

from eventing import dead_letter_headers as dlq
from eventing.config import KafkaSettings
from eventing.dead_letter_headers import dead_letter_headers
from eventing.delivered import headers_of, offset_of, partition_of, topic_of
from eventing.errors import PoisonMessage, TransientError
from eventing.held import (
    HeldMessage,
    Hold,
    HoldStore,
    Verdict,
    can_hold,
    letter_name,
    verdict,
)
from eventing.metrics import message_dead_lettered, message_processed, message_retried
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.registry import Decoded, EventRegistry
from eventing.retry import RetryPolicy
from eventing.sql import HoldTables
from eventing.topics import dead_letter_topic
from eventing.tracing import (
    ConsumedMessage,
    context_from_headers,
    process_attributes,
    tracer,
)

log = logging.getLogger(__name__)

Handler = Callable[[Decoded], None]


class MessageBatch(Protocol):
    """Messages applied in one transaction: `apply` each in turn, then `commit` them all;
    left without `commit`, none of them counts."""

    def apply(self, decoded: Decoded) -> None: ...

    def commit(self) -> None: ...


@runtime_checkable
class BatchHandler(Protocol):
    """A handler that can apply a run of messages in one transaction (`batch`) as well as one
    message alone (calling it)."""

    def __call__(self, decoded: Decoded) -> None: ...

    def batch(self) -> AbstractContextManager[MessageBatch]: ...


class _OneByOne:
    """A plain handler as a batch of one."""

    def __init__(self, handler: Handler):
        self.handler = handler

    def apply(self, decoded: Decoded) -> None:
        self.handler(decoded)

    def commit(self) -> None:
        pass


@dataclass(frozen=True)
class HoldDatabase:
    """Where a consumer keeps the keys its dead letters hold back: its service's database."""

    engine: Engine
    tables: HoldTables


@dataclass
class _PendingRetry:
    offset: int
    attempts: int
    resume_at: float


class DeadLetters:
    """Publishes a failed message to its topic's dead-letter topic, with the reason in headers."""

    def __init__(self, publisher: KafkaPublisher, group_id: str):
        self.publisher = publisher
        self.group_id = group_id

    def send(
        self, message: ConsumedMessage, value: bytes | None, error: BaseException, attempts: int
    ) -> None:
        headers = dead_letter_headers(
            headers=dict(message.headers),
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            group_id=self.group_id,
            error=error,
            attempts=attempts,
        )
        self.publisher.publish(
            [
                OutgoingMessage(
                    topic=dead_letter_topic(message.topic),
                    key=message.key or b"",
                    value=value or b"",
                    headers=headers,
                )
            ]
        )
        message_dead_lettered(self.group_id, message.topic)


def static_membership(settings: KafkaSettings) -> dict[str, object]:
    """`group.instance.id` when the process has one (`KAFKA_GROUP_INSTANCE_ID`)."""
    if not settings.group_instance_id:
        return {}
    return {"group.instance.id": settings.group_instance_id}


class EventConsumer:
    release_check_interval_s = 1.0
    """How often a consumer holding keys asks whether an operator released one (a discard)."""
    release_batch = 100
    """Held messages released per turn of the loop, so a long release never starves polling."""
    max_batch = 100
    """Messages taken per poll, so at most this many in one transaction."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        group_id: str,
        topics: Iterable[str],
        handler: Handler,
        registry: EventRegistry,
        dead_letters: DeadLetters | None = None,
        retry: RetryPolicy | None = None,
        holds: HoldDatabase | None = None,
        extra_config: dict[str, object] | None = None,
    ):
        # A namespace isolates consumer groups as well as topics.
        self.group_id = settings.qualify(group_id)
        self.topics = [settings.qualify(topic) for topic in topics]
        self.handler = handler
        self.registry = registry
        self.retry = retry or RetryPolicy()
        self.dead_letters = dead_letters or DeadLetters(KafkaPublisher(settings), self.group_id)
        self.holds = HoldStore(holds.engine, holds.tables, self.group_id) if holds else None
        self._pending: dict[tuple[str, int], _PendingRetry] = {}
        # The holds on each assigned partition's keys, read once it is assigned (or when its
        # first message arrives, if that comes first).
        self._held_keys: dict[tuple[str, int], dict[bytes, Hold]] = {}
        self._unread_holds: set[tuple[str, int]] = set()
        self._revoked_while_polling: set[tuple[str, int]] = set()
        self._release_attempts: dict[int, int] = {}
        self._release_due = 0.0
        self._release_check_due = 0.0
        self._config = {
            **settings.client_config(),
            "group.id": self.group_id,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,
            "auto.commit.interval.ms": 1000,
            "partition.assignment.strategy": "cooperative-sticky",
            # A crashed worker that does not come back: its partitions move to the others
            # after 10 s instead of the default 45 s. One that comes back under its static
            # instance id (below) takes them back at once, without waiting for this.
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 1000,
            **static_membership(settings),
            **(extra_config or {}),
        }
        # How a run of messages is applied, and how many of a partition's go in one at most.
        if isinstance(handler, BatchHandler):
            self._batch: Callable[[], AbstractContextManager[MessageBatch]] = handler.batch
            self.run_limit = self.max_batch
        else:  # a plain handler: each message is its own transaction already
            self._batch = lambda: nullcontext(_OneByOne(handler))
            self.run_limit = 1
        self.processed = 0
        self.parked = 0
        """Messages parked behind a dead letter of their key."""
        self.released = 0
        """Held messages applied once their letter was settled."""

    def run(self, stop: threading.Event, poll_timeout_s: float = 0.5) -> None:
        """Consume until `stop` is set, then commit and leave the group."""
        self._consumer = Consumer(self._config)
        self._pending.clear()
        self._held_keys.clear()
        self._unread_holds.clear()
        self._consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        try:
            while not stop.is_set():
                self._resume_due_partitions()
                self._release_settled_holds()
                for run in self._poll_runs(poll_timeout_s):
                    self._process_run(run, stop)
        finally:
            self.close()

    def _poll_runs(self, timeout_s: float) -> list[list[Message]]:
        """What the next poll brings, as runs of one partition each, in offset order.

        The wait is for the first message only: the rest is what librdkafka had already
        fetched (a `consume` that waited for a full batch would add its timeout to the
        latency of a lone message)."""
        self._revoked_while_polling.clear()
        first = self._consumer.poll(timeout_s)
        if first is None:
            return []
        messages = [first, *self._consumer.consume(self.max_batch - 1, timeout=0)]
        runs: dict[tuple[str, int], list[Message]] = {}
        for message in messages:
            if error := message.error():
                self._on_kafka_error(error)
                continue
            partition = (topic_of(message), partition_of(message))
            # A rebalance served by the second call may have taken away a partition whose
            # messages the first returned: its next owner reads them from the committed offset.
            if partition not in self._revoked_while_polling:
                runs.setdefault(partition, []).append(message)
        return list(runs.values())

    def _process_run(self, run: list[Message], stop: threading.Event) -> None:
        """A partition's messages in order: those that need nothing but their handler in
        batches of `run_limit`, the others one by one. Stops when the partition waits for a
        retry (what is left is fetched again once it resumes), or when asked to: the offsets
        of what is left are not stored, so the partition's next owner gets it."""
        position = 0
        while position < len(run):
            if stop.is_set() or self._waits_for_retry(run[position]):
                return
            batch: list[tuple[Message, ConsumedMessage]] = []
            while (
                position + len(batch) < len(run)
                and len(batch) < self.run_limit
                and (consumed := self._batchable(run[position + len(batch)])) is not None
            ):
                batch.append((run[position + len(batch)], consumed))
            if batch:
                position += self._apply_batch(batch)
            else:
                self._process(run[position])
                position += 1

    def _waits_for_retry(self, message: Message) -> bool:
        pending = self._pending.get((topic_of(message), partition_of(message)))
        return pending is not None and pending.resume_at != float("inf")

    def _batchable(self, message: Message) -> ConsumedMessage | None:
        """The message, if it needs nothing but its handler: no retry pending on its partition,
        no hold on its key, not a redriven letter."""
        if (topic_of(message), partition_of(message)) in self._pending:
            return None
        consumed = _consumed(message, headers_of(message))
        if dlq.LETTER in consumed.headers:
            return None
        try:
            hold, action = self._verdict(consumed)
        except TransientError:
            return None  # the one-by-one path retries it
        return consumed if hold is None and action is Verdict.APPLY else None

    def _apply_batch(self, batch: list[tuple[Message, ConsumedMessage]]) -> int:
        """Apply the messages in one transaction; returns how many of them were dealt with.

        When one fails, the messages before it are applied again (in a batch of their own) and
        the failing one is retried or dead-lettered as if it had come alone. The messages after
        it are left to the caller, to be looked at afresh: a dead letter may now hold their
        key, or a retry stop their partition."""
        failed_at, failure = self._try_batch(batch)
        if failure is None:
            for message, consumed in batch:
                message_processed(self.group_id, consumed.topic)
                self._done(message)
            return len(batch)
        if failed_at == len(batch):  # the commit itself failed
            first, consumed = batch[0]
            if isinstance(failure, TransientError):
                self._retry_later(first, dlq.attempts_of(consumed.headers) + 1, failure)
            else:  # whose doing it was is unknown: the first goes alone, the rest afresh
                self._process(first)
            return 1
        if failed_at > 0:
            applied = self._apply_batch(batch[:failed_at])
            if applied < failed_at or self._waits_for_retry(batch[0][0]):
                return applied
        message, consumed = batch[failed_at]
        self._after_failure(message, consumed, failure, dlq.attempts_of(consumed.headers) + 1)
        return failed_at + 1

    def _try_batch(
        self, batch: list[tuple[Message, ConsumedMessage]]
    ) -> tuple[int, Exception | None]:
        """Apply and commit; on failure, the index of the message that failed (the batch's
        length when the commit did) and the error. Nothing is committed then."""
        try:
            with self._batch() as applying:
                for index, (message, consumed) in enumerate(batch):
                    failure = self._handle(consumed, message.value(), applying.apply)
                    if failure is not None:
                        return index, failure
                applying.commit()
        except Exception as error:
            return len(batch), error
        return 0, None

    def close(self) -> None:
        """Commit and leave the group. A static member does not leave on `close()` alone
        (KIP-345: its partitions would wait a session timeout for it), so it unsubscribes
        first: a worker stopped on purpose hands its partitions over at once, and its group is
        empty as soon as its last worker stopped (which a replay needs)."""
        self._commit_stored()
        if "group.instance.id" in self._config:
            self._leave_group()
        self._consumer.close()

    def _leave_group(self, patience_s: float = 5.0) -> None:
        """Unsubscribe and serve the revocation: librdkafka sends the LeaveGroup once it has
        run, which `close()` alone would not wait for. A message fetched meanwhile is not
        handled (its offset is not stored), so the next member gets it."""
        self._consumer.unsubscribe()
        deadline = time.monotonic() + patience_s
        while self._consumer.assignment() and time.monotonic() < deadline:
            self._consumer.poll(0.1)

    def _process(self, message: Message) -> None:
        partition = (topic_of(message), partition_of(message))
        pending = self._pending.get(partition)
        headers = headers_of(message)
        if pending and pending.offset == message.offset():
            attempts = pending.attempts + 1
        else:  # a message redriven from its dead-letter topic keeps its attempt count
            attempts = dlq.attempts_of(headers) + 1
        consumed = _consumed(message, headers)
        try:
            hold, action = self._verdict(consumed)
            if action is Verdict.PARK:
                self._park(consumed, message.value())
                self._done(message)
                return
            if action is Verdict.SKIP_DISCARDED:
                log.info(
                    "skipping %s[%d]@%d: a redriven copy of %s, which was discarded",
                    *partition,
                    message.offset(),
                    headers.get(dlq.LETTER),
                )
                self._done(message)
                return
        except TransientError as error:
            self._retry_later(message, attempts, error)
            return
        failure = self._handle(consumed, message.value(), self.handler)
        if failure is None:
            if hold is not None and action is Verdict.APPLY_LETTER:
                try:
                    self._letter_applied(hold)
                except TransientError as release_error:  # applied; the retry is a no-op
                    self._retry_later(message, attempts, release_error)
                    return
            message_processed(self.group_id, consumed.topic)
            self._done(message)
        else:
            self._after_failure(message, consumed, failure, attempts)

    def _after_failure(
        self, message: Message, consumed: ConsumedMessage, failure: Exception, attempts: int
    ) -> None:
        if self._gives_up(failure, attempts):
            self._dead_letter(message, consumed, failure, attempts)
        else:
            self._retry_later(message, attempts, failure)

    def _handle(
        self, consumed: ConsumedMessage, value: bytes | None, apply: Handler
    ) -> Exception | None:
        """Decode and apply one message inside its trace; the error, if it failed."""
        with tracer.start_as_current_span(
            f"{consumed.topic} process",
            context=context_from_headers(consumed.headers),
            kind=SpanKind.CONSUMER,
            attributes=process_attributes(consumed, self.group_id),
        ) as span:
            try:
                decoded = self.registry.decode(value)
                span.set_attribute("messaging.message.id", str(decoded.envelope.event_id))
                span.set_attribute("event.type", decoded.envelope.type)
                apply(decoded)
            except Exception as error:
                span.record_exception(error)
                return error
        return None

    def _gives_up(self, error: Exception, attempts: int) -> bool:
        """Dead-letter now? A poisoned message at once, a transient failure never, anything
        else after `max_attempts`."""
        if isinstance(error, PoisonMessage):
            return True
        if isinstance(error, TransientError):
            return False
        return attempts >= self.retry.max_attempts

    def _done(self, message: Message) -> None:
        self._pending.pop((topic_of(message), partition_of(message)), None)
        self._consumer.store_offsets(message=message)
        self.processed += 1

    def _dead_letter(
        self, message: Message, consumed: ConsumedMessage, error: BaseException, attempts: int
    ) -> None:
        log.error(
            "dead-lettering %s[%d]@%d after %d attempt(s): %s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            attempts,
            type(error).__name__,
            error,
        )
        try:
            # The hold first: a letter published without it would let later messages pass.
            self._hold_key(consumed, error)
            self.dead_letters.send(consumed, message.value(), error, attempts)
        except Exception as publish_error:  # the message must not be lost: retry it instead
            self._retry_later(message, attempts, publish_error)
            return
        self._done(message)

    def _retry_later(self, message: Message, attempts: int, error: BaseException) -> None:
        message_retried(self.group_id, topic_of(message))
        delay = self.retry.delay(attempts)
        log.warning(
            "retrying %s[%d]@%d in %.2fs (attempt %d): %s: %s",
            message.topic(),
            message.partition(),
            message.offset(),
            delay,
            attempts,
            type(error).__name__,
            error,
        )
        partition = TopicPartition(topic_of(message), partition_of(message), offset_of(message))
        self._consumer.pause([partition])
        self._consumer.seek(partition)
        self._pending[(topic_of(message), partition_of(message))] = _PendingRetry(
            offset_of(message), attempts, time.monotonic() + delay
        )

    def _resume_due_partitions(self) -> None:
        now = time.monotonic()
        due = [key for key, pending in self._pending.items() if pending.resume_at <= now]
        if due:
            assigned = {(tp.topic, tp.partition) for tp in self._consumer.assignment()}
            self._consumer.resume([TopicPartition(t, p) for t, p in due if (t, p) in assigned])
            for key in due:
                self._pending[key].resume_at = float("inf")

    # Keys held back by their dead letters.

    def _holds_on(self, topic: str, partition: int) -> dict[bytes, Hold]:
        """The holds on the partition's keys, read from the database the first time."""
        assert self.holds is not None
        known = self._held_keys.get((topic, partition))
        if known is None:
            known = {hold.key: hold for hold in self.holds.holds_on([(topic, partition)])}
            self._held_keys[(topic, partition)] = known
        return known

    def _verdict(self, consumed: ConsumedMessage) -> tuple[Hold | None, Verdict]:
        if self.holds is None or not can_hold(consumed.key):
            return None, Verdict.APPLY
        assert consumed.key is not None
        hold = self._holds_on(consumed.topic, consumed.partition).get(consumed.key)
        redriven_letter = consumed.headers.get(dlq.LETTER)
        discarded = redriven_letter is not None and self.holds.is_discarded(redriven_letter)
        position = letter_name(consumed.topic, consumed.partition, consumed.offset)
        return hold, verdict(
            hold, position=position, redriven_letter=redriven_letter, discarded=discarded
        )

    def _park(self, consumed: ConsumedMessage, value: bytes | None) -> None:
        assert self.holds is not None and consumed.key is not None
        self.holds.park(
            topic=consumed.topic,
            partition=consumed.partition,
            offset=consumed.offset,
            key=consumed.key,
            value=value,
            headers=consumed.headers,
        )
        self.parked += 1
        log.warning(
            "holding %s[%d]@%d: its key %r is held behind dead letter %s",
            consumed.topic,
            consumed.partition,
            consumed.offset,
            consumed.key,
            self._held_keys[(consumed.topic, consumed.partition)][consumed.key].letter,
        )

    def _hold_key(self, consumed: ConsumedMessage, error: BaseException) -> None:
        """Hold the message's key behind it, about to become a dead letter."""
        if self.holds is None or not can_hold(consumed.key):
            return
        assert consumed.key is not None
        hold = Hold(
            topic=consumed.topic,
            partition=consumed.partition,
            key=consumed.key,
            letter=letter_name(consumed.topic, consumed.partition, consumed.offset),
            reason=f"{type(error).__name__}: {error}",
        )
        self.holds.hold(hold)
        self._holds_on(consumed.topic, consumed.partition)[consumed.key] = hold

    def _letter_applied(self, hold: Hold) -> None:
        assert self.holds is not None
        log.info("dead letter %s applied: releasing what it held", hold.letter)
        released = self.holds.release(hold, "redriven and applied")
        self._held_keys[(hold.topic, hold.partition)][hold.key] = released
        self._release_due = 0.0

    def _release_settled_holds(self) -> None:
        """Release, in order, what waits behind letters that were applied or discarded: a
        batch per turn, retried with backoff while the handler or the database fails."""
        if self.holds is None:
            return
        now = time.monotonic()
        try:
            if self._unread_holds and now >= self._release_due:
                self._read_assigned_holds()
            if not any(self._held_keys.values()):
                return
            if now >= self._release_check_due:
                self._release_check_due = now + self.release_check_interval_s
                self._notice_discards()
            if now < self._release_due:
                return
            budget = self.release_batch
            for hold in [h for keys in self._held_keys.values() for h in keys.values()]:
                if hold.released and budget > 0:
                    budget -= self._release_behind(hold, budget)
        except Exception as error:  # the database or the broker: nothing is lost, try again
            log.warning("releasing held messages failed; retrying: %s", error)
            self._release_due = now + self.retry.delay(2)

    def _read_assigned_holds(self) -> None:
        assert self.holds is not None
        unread = [tp for tp in self._unread_holds if tp not in self._held_keys]
        holds = self.holds.holds_on(unread)
        for tp in unread:
            self._held_keys[tp] = {}
        for hold in holds:
            self._held_keys[(hold.topic, hold.partition)][hold.key] = hold
        self._unread_holds.clear()

    def _notice_discards(self) -> None:
        assert self.holds is not None
        waiting = [h for keys in self._held_keys.values() for h in keys.values() if not h.released]
        for hold in self.holds.released_among(waiting):
            log.info("letter %s: %s; releasing what it held", hold.letter, hold.release_reason)
            self._held_keys[(hold.topic, hold.partition)][hold.key] = hold

    def _release_behind(self, hold: Hold, budget: int) -> int:
        """Apply up to `budget` messages held behind a released hold; ends the hold when none
        is left. Returns how many it tried."""
        assert self.holds is not None
        waiting = self.holds.held_behind(hold, budget)
        if not waiting:
            self._end_hold(hold)
            return 0
        for tried, held in enumerate(waiting, start=1):
            consumed = ConsumedMessage(
                held.topic, held.partition, held.offset, held.key, held.headers
            )
            attempts = self._release_attempts.get(held.id, dlq.attempts_of(held.headers))
            attempts += 1
            error = self._handle(consumed, held.value, self.handler)
            if error is None:
                self.holds.forget_held(held)
                self._release_attempts.pop(held.id, None)
                self.released += 1
                message_processed(self.group_id, held.topic)
                continue
            if self._gives_up(error, attempts):
                self._dead_letter_held(hold, held, error, attempts)
            else:
                self._release_attempts[held.id] = attempts
                message_retried(self.group_id, held.topic)
                self._release_due = time.monotonic() + self.retry.delay(attempts)
                log.warning(
                    "releasing %s held behind %s failed (attempt %d): %s: %s",
                    letter_name(held.topic, held.partition, held.offset),
                    hold.letter,
                    attempts,
                    type(error).__name__,
                    error,
                )
            return tried
        if len(waiting) < budget:  # that was all of them
            self._end_hold(hold)
        return len(waiting)

    def _end_hold(self, hold: Hold) -> None:
        assert self.holds is not None
        if self.holds.end_if_empty(hold):
            self._held_keys[(hold.topic, hold.partition)].pop(hold.key, None)
            log.info("key %r of %s flows again", hold.key, hold.topic)

    def _dead_letter_held(
        self, hold: Hold, held: HeldMessage, error: BaseException, attempts: int
    ) -> None:
        """A held message failed for good: it becomes its key's letter, and what is behind it
        stays held. Published first: the letter must exist before the held row goes."""
        assert self.holds is not None
        letter = letter_name(held.topic, held.partition, held.offset)
        log.error(
            "dead-lettering held %s after %d attempt(s): %s: %s",
            letter,
            attempts,
            type(error).__name__,
            error,
        )
        consumed = ConsumedMessage(held.topic, held.partition, held.offset, held.key, held.headers)
        self.dead_letters.send(consumed, held.value, error, attempts)
        moved = replace(
            hold,
            letter=letter,
            reason=f"{type(error).__name__}: {error}",
            released=False,
            release_reason=None,
        )
        self.holds.move_to_letter(moved, held)
        self._release_attempts.pop(held.id, None)
        self._held_keys[(hold.topic, hold.partition)][hold.key] = moved

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Read in the loop, not here: a database error must not fail the rebalance.
        self._unread_holds.update((tp.topic, tp.partition) for tp in partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit_stored()
        for tp in partitions:
            self._revoked_while_polling.add((tp.topic, tp.partition))
            self._pending.pop((tp.topic, tp.partition), None)
            self._held_keys.pop((tp.topic, tp.partition), None)
            self._unread_holds.discard((tp.topic, tp.partition))

    def _commit_stored(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("committing offsets failed: %s", error)

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        log.warning("kafka: %s", error.str())


def _consumed(message: Message, headers: dict[str, str]) -> ConsumedMessage:
    return ConsumedMessage(
        topic_of(message), partition_of(message), offset_of(message), message.key(), headers
    )
