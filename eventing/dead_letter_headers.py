"""The headers of a dead letter, named once: what the consumer, the outbox relay, `shopctl dlq`,
the console and the contract documents read and write.

A dead letter is the original message (its key, value and headers) plus these headers saying
where it was taken from and why it failed. A redriven copy drops them all except the attempt
count, and adds where it was redriven from and the name of the letter it copies. A stub of a
parked outbox row carries the reason headers and the `dlq.outbox.*` ones instead.
"""

from __future__ import annotations

from collections.abc import Mapping

from eventing.envelope import utc_now

PREFIX = "dlq."
"""Every dead-letter header starts with it (a redriven copy keeps none but `ATTEMPTS`)."""

ORIGINAL_TOPIC = "dlq.original.topic"
"""The topic the message was taken from, as the broker names it."""
ORIGINAL_PARTITION = "dlq.original.partition"
ORIGINAL_OFFSET = "dlq.original.offset"
CONSUMER_GROUP = "dlq.consumer.group"
"""The consumer group that dead-lettered it (its holds are that group's)."""
ERROR_CLASS = "dlq.error.class"
ERROR_MESSAGE = "dlq.error.message"
ATTEMPTS = "dlq.attempts"
"""How many times it was tried; a redriven copy keeps it, so its retries count on."""
FAILED_AT = "dlq.failed_at"

REDRIVEN_FROM = "dlq.redriven.from"
"""On a redriven copy: the dead letter's own position, `topic[partition]@offset`."""
LETTER = "dlq.letter"
"""On a redriven copy: the name of the dead letter it copies (see `eventing.held`)."""

OUTBOX_PARKED_EVENT_ID = "dlq.outbox.parked_event_id"
"""Marks a dead letter that is only a stub of a parked outbox row (the row is the message)."""
OUTBOX_ROW_ID = "dlq.outbox.row_id"
OUTBOX_DATABASE = "dlq.outbox.database"
OUTBOX_SIZE_BYTES = "dlq.outbox.size_bytes"

ERROR_MESSAGE_LIMIT = 2000
"""Characters of an error's text kept in `ERROR_MESSAGE`."""


def reason_headers(*, error_class: str, error_message: str, attempts: int) -> dict[str, str]:
    """Why a message failed, and when: what every dead letter and every stub carries."""
    return {
        ERROR_CLASS: error_class,
        ERROR_MESSAGE: error_message[:ERROR_MESSAGE_LIMIT],
        ATTEMPTS: str(attempts),
        FAILED_AT: utc_now().isoformat(),
    }


def dead_letter_headers(
    *,
    headers: dict[str, str],
    topic: str,
    partition: int,
    offset: int,
    group_id: str,
    error: BaseException,
    attempts: int,
) -> dict[str, str]:
    """The original headers plus where the message came from and why it failed."""
    return {
        **headers,
        ORIGINAL_TOPIC: topic,
        ORIGINAL_PARTITION: str(partition),
        ORIGINAL_OFFSET: str(offset),
        CONSUMER_GROUP: group_id,
        **reason_headers(
            error_class=type(error).__name__, error_message=str(error), attempts=attempts
        ),
    }


def attempts_of(headers: Mapping[str, str]) -> int:
    """The attempts a message's headers record: 0 for one never dead-lettered (or unreadable)."""
    try:
        return int(headers.get(ATTEMPTS) or 0)
    except ValueError:
        return 0
