"""Small helpers for tests that read topics and run consumers against the real broker."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, Message

from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer


def read_topic(
    settings: KafkaSettings,
    topic: str,
    expected: int,
    timeout_s: float = 90.0,
    settle_s: float = 1.0,
) -> list[Message]:
    """Every message of `topic` from the beginning: waits for `expected`, then `settle_s` more
    so that an unexpected extra message is seen too."""
    consumer = Consumer(
        {
            **settings.client_config(),
            "group.id": f"reader-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Message] = []
    deadline = time.monotonic() + timeout_s
    settle_until = None
    try:
        while time.monotonic() < deadline:
            if settle_until is None and len(messages) >= expected:
                settle_until = time.monotonic() + settle_s
            if settle_until is not None and time.monotonic() >= settle_until:
                break
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def run_consumer_until(
    consumer: EventConsumer, condition: Callable[[], bool], timeout_s: float = 90.0
) -> None:
    """Run the consumer in a thread until `condition` holds; fail after `timeout_s`."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            consumer.run(stop, poll_timeout_s=0.1)
        except BaseException as error:  # surfaced to the test below
            errors.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not condition():
            assert not errors, errors
            assert thread.is_alive(), "the consumer stopped on its own"
            assert time.monotonic() < deadline, f"condition not met within {timeout_s}s"
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(15)
    assert not errors, errors


def replies_through_kafka(
    settings: KafkaSettings,
    tasks,
    command_envelope,
    command_topic: str,
    reply_topic: str,
    timeout_s: float = 90.0,
):
    """Publish a command envelope to the (namespaced) command topic, run a service's worker
    tasks (consumer and relay) until a reply appears, and return the replies, decoded, that
    belong to the command's aggregate."""
    from eventing.producer import KafkaPublisher, OutgoingMessage
    from eventing.registry import registry

    KafkaPublisher(settings).publish(
        [
            OutgoingMessage(
                settings.qualify(command_topic), command_envelope.key(), command_envelope.to_bytes()
            )
        ]
    )
    stop = threading.Event()
    threads = [threading.Thread(target=task, args=(stop,), daemon=True) for task in tasks.values()]
    for thread in threads:
        thread.start()
    try:
        messages = read_topic(
            settings, settings.qualify(reply_topic), expected=1, timeout_s=timeout_s
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
    decoded = [registry.decode(message.value()) for message in messages]
    return [d for d in decoded if d.envelope.aggregate_id == command_envelope.aggregate_id]
