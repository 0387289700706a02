"""Dead-letter operations shared by `shopctl dlq` and the console: the topics and their sizes,
one topic's letters grouped by reason, one letter and what it holds back, redriving (every
letter not yet redriven, the selected ones, or all of a reason) and discarding with a reason,
each recorded in the audit log.

A dead letter holds back its key in the group that dead-lettered it (`eventing.held`): later
messages of that key wait until its redriven copy is applied, or it is discarded. A letter
redriven twice (selected, then again with the rest) is still applied once: the consumer's
inbox knows its event id.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eventing.config import KafkaSettings
from eventing.errors import EventingError
from eventing.kafka_admin import admin_client
from eventing.kafka_dead_letters import (
    DeadLetter,
    dead_letter_topics,
    read_dead_letters,
    redrive,
    redriven_copy,
)
from eventing.kafka_offsets import topic_extent
from eventing.producer import KafkaPublisher
from eventing.topics import dead_letter_topic
from shopctl import audit
from shopctl.holds import HoldStores, hold_stores


class DeadLetterOperationFailed(EventingError):
    """A dead-letter operation refused or failed: the message says why, in one line."""


@dataclass(frozen=True)
class DeadLetterTopic:
    name: str
    """Qualified (with the shop's topic namespace)."""
    letters: int


@dataclass(frozen=True)
class ReasonGroup:
    reason: str
    letters: list[DeadLetter]


def position(letter: DeadLetter) -> str:
    return f"{letter.partition}@{letter.offset}"


def parse_position(text: str) -> tuple[int, int]:
    try:
        partition, offset = (int(part) for part in text.strip().split("@"))
    except ValueError:
        raise DeadLetterOperationFailed(f"{text!r} is not PARTITION@OFFSET") from None
    return partition, offset


def topics(settings: KafkaSettings) -> list[DeadLetterTopic]:
    admin = admin_client(settings)
    return [
        DeadLetterTopic(name, topic_extent(admin, name).retained)
        for name in dead_letter_topics(settings)
    ]


def _qualified(settings: KafkaSettings, topic: str) -> str:
    """The broker's name of a dead-letter topic of this shop, named logically or as the broker
    does (as `topics` lists it)."""
    name = settings.broker_name(topic)
    if name not in dead_letter_topics(settings):
        raise DeadLetterOperationFailed(f"no dead-letter topic {topic}")
    return name


def letters(settings: KafkaSettings, topic: str) -> list[DeadLetter]:
    return [letter for letter, _ in read_dead_letters(settings, _qualified(settings, topic))]


def by_reason(found: Iterable[DeadLetter]) -> list[ReasonGroup]:
    """Letters grouped by why they failed, the largest group first."""
    groups: dict[str, list[DeadLetter]] = {}
    for letter in found:
        groups.setdefault(letter.reason, []).append(letter)
    return [
        ReasonGroup(reason, grouped)
        for reason, grouped in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    ]


def letter(settings: KafkaSettings, topic: str, at: str) -> DeadLetter:
    partition, offset = parse_position(at)
    for found in letters(settings, topic):
        if (found.partition, found.offset) == (partition, offset):
            return found
    raise DeadLetterOperationFailed(f"no dead letter at {at} in {topic}")


def redrive_unredriven(
    settings: KafkaSettings,
    topic: str,
    *,
    actor: str,
    on_each: Callable[[DeadLetter], None] | None = None,
) -> int:
    """Every letter of the topic not yet redriven this way (a consumer group remembers)."""
    qualified = _qualified(settings, topic)
    audit.prepare(settings)
    count = redrive(settings, qualified, on_each=on_each)
    audit.record(settings, actor, "dlq.redrive", qualified, f"{count} letter(s) not yet redriven")
    return count


def redrive_selected(
    settings: KafkaSettings,
    topic: str,
    *,
    actor: str,
    positions: Iterable[str] = (),
    keys: Iterable[str] = (),
    reason: str | None = None,
) -> list[DeadLetter]:
    """The letters at the given positions, with the given keys, or of the given reason (any of
    them matching), each back to its original topic. Refuses when none matches."""
    wanted = {parse_position(at) for at in positions}
    wanted_keys = {key.encode() for key in keys}
    chosen = [
        found
        for found in letters(settings, topic)
        if (found.partition, found.offset) in wanted
        or (found.key or b"") in wanted_keys
        or (reason is not None and found.reason == reason)
    ]
    if not chosen:
        raise DeadLetterOperationFailed(f"no dead letter in {topic} matches the selection")
    audit.prepare(settings)
    publisher = KafkaPublisher(settings)
    try:
        publisher.publish([redriven_copy(found) for found in chosen])
    finally:
        publisher.close()
    audit.record(
        settings,
        actor,
        "dlq.redrive",
        _qualified(settings, topic),
        f"{len(chosen)} selected: {', '.join(position(found) for found in chosen)}"[:1000],
    )
    return chosen


def held_behind(stores: HoldStores, letter: DeadLetter) -> str:
    """What waits behind one letter in the group that dead-lettered it, in a few words."""
    try:
        store = stores.for_group(letter.group)
        if store is None:
            return "-: its group holds no keys"
        summaries = {(s.topic, s.key): s for s in store.summaries(letter.original_topic)}
        summary = summaries.get((letter.original_topic, letter.key or b""))
        if summary is not None and summary.letter == letter.name:
            text = f"{summary.held} held"
            if summary.oldest_held_at is not None:
                text += f", oldest {summary.oldest_held_at.isoformat(timespec='seconds')}"
            return text + (f" (released: {summary.release_reason})" if summary.released else "")
        reason = store.discarded().get(letter.name)
        return f"0: discarded ({reason})" if reason is not None else "0"
    except Exception as error:  # a list must still show what Kafka holds
        return f"? ({type(error).__name__})"


def held_per_topic(stores: HoldStores) -> dict[str, str]:
    """Per dead-letter topic, how many messages its letters hold back, over every group."""
    held: dict[str, int] = {}
    unknown: set[str] = set()
    for store in stores.every_group():
        try:
            summaries = store.summaries()
        except Exception:
            unknown.add(store.group)
            continue
        for summary in summaries:
            name = dead_letter_topic(summary.topic)
            held[name] = held.get(name, 0) + summary.held
    suffix = f" (? for {', '.join(sorted(unknown))})" if unknown else ""
    return {name: f"{count}{suffix}" for name, count in held.items()}


@dataclass(frozen=True)
class Discarded:
    letter: DeadLetter
    released: int | None
    """How many held messages it released (None: it held nothing back)."""


def discard(settings: KafkaSettings, topic: str, at: str, *, reason: str, actor: str) -> Discarded:
    """Never apply the letter (a redriven copy is skipped), and release what it holds back: the
    group that dead-lettered it applies those messages in order. The letter stays in its topic
    for the record; the reason is kept with the group's holds and in the audit log."""
    if not reason.strip():
        raise DeadLetterOperationFailed("say why the letter is discarded")
    found = letter(settings, topic, at)
    audit.prepare(settings)
    with hold_stores(settings) as stores:
        store = stores.for_group(found.group)
        if store is None:
            raise DeadLetterOperationFailed(
                f"group {found.group or '?'} holds no keys: nothing to release behind {at}"
            )
        released = store.discard(
            topic=found.original_topic,
            key=found.key or b"",
            letter=found.name,
            reason=reason.strip(),
        )
    audit.record(
        settings,
        actor,
        "dlq.discard",
        f"{found.topic} {at}",
        f"{reason.strip()}; released {released or 0} held message(s)",
    )
    return Discarded(found, released)
