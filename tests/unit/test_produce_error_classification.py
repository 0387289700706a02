"""Which produce failures park an outbox row (the message's own fault, forever) and which are
retried (the world's fault, for now): real librdkafka error objects, as delivery reports carry."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from eventing.producer import Delivery, ProduceErrorKind, classify_produce_error


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_MSG,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_TIMESTAMP,
        KafkaError.POLICY_VIOLATION,
    ],
)
def test_a_message_the_broker_refuses_for_what_it_is_fails_permanently(code):
    assert classify_produce_error(KafkaError(code)) is ProduceErrorKind.PERMANENT


@pytest.mark.parametrize(
    "code",
    [
        KafkaError._MSG_TIMED_OUT,  # broker down longer than message.timeout.ms
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.UNKNOWN_TOPIC_OR_PART,  # not created yet: an operator can fix that
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,  # so can an ACL
        KafkaError._QUEUE_FULL,
    ],
)
def test_a_failure_of_the_world_around_the_message_is_retried(code):
    assert classify_produce_error(KafkaError(code)) is ProduceErrorKind.RETRIABLE


def test_an_error_librdkafka_calls_retriable_is_retried_whatever_its_code():
    error = KafkaError(KafkaError._FAIL, "something passing", retriable=True)
    assert classify_produce_error(error) is ProduceErrorKind.RETRIABLE


def test_a_fatal_error_breaks_the_producer_not_the_message_even_with_a_permanent_code():
    """A fatal error (an idempotent producer fenced or out of sequence) says the producer must
    be replaced; the messages themselves are sent again by the new one."""
    assert (
        classify_produce_error(KafkaError(KafkaError._FATAL, fatal=True)) is ProduceErrorKind.FATAL
    )
    assert (
        classify_produce_error(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, fatal=True))
        is ProduceErrorKind.FATAL
    )


def test_a_delivery_without_an_error_is_delivered_and_has_no_kind():
    assert Delivery().delivered
    assert Delivery().kind is None
    assert not Delivery(skipped=True).delivered
    too_large = Delivery(error=KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), at_produce=True)
    assert not too_large.delivered
    assert too_large.kind is ProduceErrorKind.PERMANENT
