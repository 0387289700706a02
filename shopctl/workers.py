"""The shop's workers and the Kafka consumer group each consumes as: `shopctl status` shows
them up or down by their group's members, `shopctl replay` runs a group's handler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Worker:
    label: str
    group: str
    #: The package whose `bootstrap` gives the group's handler; None for the search indexer,
    #: a faust app whose index `shopctl search rebuild` rebuilds instead.
    package: str | None


WORKERS = (
    Worker("order-service worker", "order-service", "order_service"),
    Worker("inventory-service worker", "inventory-service", "inventory_service"),
    Worker("payment-service worker", "payment-service", "payment_service"),
    Worker("saga orchestrator", "checkout-saga", "sagas"),
    Worker("search indexer", "search-indexer", None),
)

#: Consumer group -> the package whose worker consumes as that group, for the groups a replay
#: can run through their handler.
REPLAYABLE_GROUPS = {worker.group: worker.package for worker in WORKERS if worker.package}
