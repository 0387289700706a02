"""Topics as code: every topic of the shop, its partitions and its retention, in one place.

`python -m eventing.topics create` (run by `make up`) creates what is missing and raises the
partition count or updates the configuration of what exists; broker-side auto-creation is off.

Retention choices:
- `inventory.products` is compacted by sku and every product event carries the product's full
  state, so the topic always holds each product's latest state: the search index and the order
  service's catalogue can be rebuilt from it at any time.
- The other event and command topics keep 14 days, long enough to replay into a database
  restored from a recent backup.
- Dead-letter topics keep 30 days: long enough for an operator to inspect and redrive.
- `operator.audit` records what operators did (saga retries, redrives, discards) from `shopctl`
  or the console: one partition, so it reads in the order it happened; kept for a year.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

DAY_MS = 24 * 60 * 60 * 1000
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    replication_factor: int = 1
    config: dict[str, str] = field(default_factory=dict)


def _events(name: str, *, days: int = 14, partitions: int = 3) -> TopicSpec:
    return TopicSpec(
        name,
        partitions=partitions,
        config={"cleanup.policy": "delete", "retention.ms": str(days * DAY_MS)},
    )


def _compacted(name: str, *, partitions: int = 3) -> TopicSpec:
    return TopicSpec(
        name,
        partitions=partitions,
        config={
            "cleanup.policy": "compact",
            "min.compaction.lag.ms": str(DAY_MS),
            "segment.ms": str(DAY_MS),
        },
    )


PRODUCTS = "inventory.products"
RESERVATIONS = "inventory.reservations"
INVENTORY_COMMANDS = "inventory.commands"
PAYMENTS = "payment.payments"
PAYMENT_COMMANDS = "payment.commands"
ORDERS = "orders.orders"
ORDER_COMMANDS = "orders.commands"
SAGA_PROGRESS = "sagas.progress"
OPERATOR_AUDIT = "operator.audit"

RETIRED = frozenset({ORDER_COMMANDS, SAGA_PROGRESS})
"""Topics no one writes any more, kept so that what an older shop left in them can still be
read, replayed or redriven: the orchestrator approves orders as a local step in the order
service's database (no `orders.commands`; the order worker still applies what is left there),
whose API reads each saga from the orchestrator's rows (no `sagas.progress`)."""

_PRIMARY_TOPICS: tuple[TopicSpec, ...] = (
    _compacted(PRODUCTS),
    _events(RESERVATIONS),
    _events(INVENTORY_COMMANDS),
    _events(PAYMENTS),
    _events(PAYMENT_COMMANDS),
    _events(ORDERS),
    _events(ORDER_COMMANDS),
    _events(SAGA_PROGRESS),
)


def dead_letter_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX


#: Topics no consumer group processes, so without a dead-letter topic.
_RECORD_TOPICS: tuple[TopicSpec, ...] = (_events(OPERATOR_AUDIT, days=365, partitions=1),)


def record_topics() -> tuple[TopicSpec, ...]:
    return _RECORD_TOPICS


def all_topics() -> tuple[TopicSpec, ...]:
    """The primary topics followed by one dead-letter topic for each, then the records."""
    dead_letters = tuple(
        _events(dead_letter_topic(spec.name), days=30, partitions=1) for spec in _PRIMARY_TOPICS
    )
    return _PRIMARY_TOPICS + dead_letters + _RECORD_TOPICS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eventing.topics", description=__doc__)
    parser.add_argument("command", choices=["create", "list"])
    args = parser.parse_args(argv)
    if args.command == "list":
        for spec in all_topics():
            print(f"{spec.name}\t{spec.partitions}\t{spec.config}")
        return 0
    from eventing.config import KafkaSettings
    from eventing.errors import EventingError
    from eventing.kafka_admin import ensure_topics

    try:
        created = ensure_topics(KafkaSettings.from_env(), all_topics())
    except EventingError as error:
        print(f"topics: {error}", file=sys.stderr)
        return 1
    print(f"[topics] {len(all_topics())} topics declared, {len(created)} created", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
