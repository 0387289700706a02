"""Typed reads of a Kafka message the consumer delivered without error.

confluent-kafka's `Message` also carries consumer errors, so its stubs type the topic, partition
and offset as optional and the headers as anything a producer accepts. A message whose `error()`
is None always has all three set, and librdkafka hands its headers over as a list of
(name, bytes) pairs: these functions tell the type checker so, and do nothing at run time.
"""

from __future__ import annotations

from typing import cast

from confluent_kafka import Message

from eventing.tracing import kafka_headers_to_dict


def topic_of(message: Message) -> str:
    return cast(str, message.topic())


def partition_of(message: Message) -> int:
    return cast(int, message.partition())


def offset_of(message: Message) -> int:
    return cast(int, message.offset())


def headers_of(message: Message) -> dict[str, str]:
    """The message's headers as text (see `kafka_headers_to_dict`)."""
    return kafka_headers_to_dict(cast("list[tuple[str, bytes | None]] | None", message.headers()))
