"""How long an inbox row is kept: as long as its event can still be delivered again, read from
the topics' own retention (`eventing/topics.py`), never shorter."""

from __future__ import annotations

from datetime import timedelta

import contracts  # noqa: F401  (registers every message type)
from eventing import topics
from eventing.inbox import (
    BROKER_SEGMENT_MS,
    RETENTION_MARGIN,
    inbox_retention,
    retention_by_event_type,
    topic_lifetime,
)
from eventing.registry import registry
from eventing.topics import DAY_MS, TopicSpec, all_topics

SEGMENT_ROLL = timedelta(milliseconds=BROKER_SEGMENT_MS)


def deleting(name: str, days: int, **config: str) -> TopicSpec:
    return TopicSpec(
        name, config={"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)} | config
    )


def test_a_record_outlives_its_retention_by_a_segment_roll():
    assert topic_lifetime(deleting("t", 14)) == timedelta(days=14) + SEGMENT_ROLL
    rolled_daily = deleting("t", 14, **{"segment.ms": str(DAY_MS)})
    assert topic_lifetime(rolled_daily) == timedelta(days=15)


def test_a_compacted_or_forever_topic_has_no_bound():
    assert topic_lifetime(TopicSpec("t", config={"cleanup.policy": "compact"})) is None
    assert topic_lifetime(TopicSpec("t", config={"cleanup.policy": "compact,delete"})) is None
    assert topic_lifetime(deleting("t", 1, **{"retention.ms": "-1"})) is None


def test_the_bound_covers_the_dead_letter_topic_then_the_topic_again():
    specs = [deleting("t", 14), deleting("t.dlq", 30)]
    expected = timedelta(days=14 + 30) + 2 * SEGMENT_ROLL + RETENTION_MARGIN
    assert inbox_retention("t", specs) == expected


def test_a_topic_without_dead_letters_needs_its_own_lifetime_and_the_margin():
    assert (
        inbox_retention("t", [deleting("t", 3)])
        == timedelta(days=3) + SEGMENT_ROLL + RETENTION_MARGIN
    )


def test_an_unknown_topic_is_kept_forever():
    assert inbox_retention("elsewhere", [deleting("t", 3)]) is None


def test_the_shops_bounds_are_longer_than_any_replay_or_redrive_can_reach():
    specs = {spec.name: spec for spec in all_topics()}
    for spec in all_topics():
        bound = inbox_retention(spec.name)
        if bound is None:
            continue
        retained = timedelta(milliseconds=int(spec.config["retention.ms"]))
        dead_letter = specs.get(topics.dead_letter_topic(spec.name))
        if dead_letter is not None:
            retained += timedelta(milliseconds=int(dead_letter.config["retention.ms"]))
        assert bound > retained, spec.name


def test_events_of_the_compacted_products_topic_are_never_pruned():
    bounds = retention_by_event_type(registry)
    for event_type, version in registry.types():
        model = registry.model_for(event_type, version)
        if model.topic == topics.PRODUCTS:
            assert event_type not in bounds
        else:
            assert bounds[event_type] == inbox_retention(model.topic), event_type
    assert bounds["OrderCreated"] == timedelta(days=14 + 30) + 2 * SEGMENT_ROLL + RETENTION_MARGIN
