"""The shop's workers and the Kafka consumer group each consumes as: `shopctl status` shows
them up or down by their group's members, `shopctl wait` waits for their groups, `shopctl
replay` runs a group's handler. Read from the registry of deployables (`servicekit.registry`)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit import registry


@dataclass(frozen=True)
class Worker:
    label: str
    group: str
    #: The package whose handler (and database) the group's messages go through; None for the
    #: search indexer, whose index `shopctl search rebuild` rebuilds instead.
    package: str | None


def _worker(entry: registry.Entry) -> Worker:
    assert entry.worker is not None and entry.worker.status_label is not None
    package = entry.package if entry.replayable else None
    return Worker(entry.worker.status_label, entry.name, package)


WORKERS = tuple(_worker(entry) for entry in registry.workers())

#: Consumer group -> the package whose worker consumes as that group, for the groups a replay
#: can run through their handler.
REPLAYABLE_GROUPS = {worker.group: worker.package for worker in WORKERS if worker.package}
