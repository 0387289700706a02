"""The keys dead letters hold back, read from (and released in) each consumer group's own
database: `shopctl dlq list` shows what waits behind each letter, `shopctl dlq discard`
releases it. A group's database and hold tables are those its deployable declares (the
orchestrator's are the order service's), from the environment the service reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

from eventing.config import KafkaSettings
from eventing.held import HoldStore
from servicekit.deployable import deployable_of
from shopctl.workers import WORKERS


class HoldStores:
    """A HoldStore per consumer group that keeps holds, opened on first use."""

    def __init__(self, kafka: KafkaSettings):
        self.kafka = kafka
        self._stores: dict[str, HoldStore | None] = {}

    def for_group(self, qualified_group: str | None) -> HoldStore | None:
        """The group's store; None for a group that keeps no holds (the search indexer, or a
        group this shop does not run)."""
        if qualified_group is None:
            return None
        if qualified_group not in self._stores:
            self._stores[qualified_group] = self._open(qualified_group)
        return self._stores[qualified_group]

    def every_group(self) -> list[HoldStore]:
        """The stores of every shop worker that keeps holds."""
        stores = (self.for_group(self.kafka.qualify(worker.group)) for worker in WORKERS)
        return [store for store in stores if store is not None]

    def _open(self, qualified_group: str) -> HoldStore | None:
        group = self.kafka.logical(qualified_group)
        package = next((w.package for w in WORKERS if w.group == group), None)
        if package is None:
            return None
        deployable = deployable_of(package)
        if deployable.tables is None:
            return None
        settings = deployable.load_settings()
        engine = sa.create_engine(settings.database_url, pool_size=1, max_overflow=0)
        return HoldStore(engine, deployable.tables.holds, qualified_group)

    def close(self) -> None:
        for store in self._stores.values():
            if store is not None:
                store.engine.dispose()


@contextmanager
def hold_stores(kafka: KafkaSettings) -> Iterator[HoldStores]:
    stores = HoldStores(kafka)
    try:
        yield stores
    finally:
        stores.close()
