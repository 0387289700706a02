"""The handlers a bounded replay (`shopctl replay --to-…`) runs: each consumer group's own
dispatcher, built from its declared deployable and the environment the service itself reads
(database URL, Kafka, topic namespace), so a replayed event has exactly the effect it has in
the service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eventing.config import KafkaSettings
from eventing.registry import Decoded
from servicekit.deployable import deployable_of
from shopctl.workers import REPLAYABLE_GROUPS


class UnknownGroup(LookupError):
    def __str__(self) -> str:
        return (
            f"no handler is known for group {self.args[0]!r}; known: {', '.join(REPLAYABLE_GROUPS)}"
        )


@contextmanager
def group_handler(group: str, kafka: KafkaSettings) -> Iterator[Callable[[Decoded], None]]:
    """The group's handler, on its service's database, for the length of the block."""
    if group not in REPLAYABLE_GROUPS:
        raise UnknownGroup(group)
    package = REPLAYABLE_GROUPS[group]
    runtime = deployable_of(package).runtime(kafka=kafka)
    try:
        yield runtime.dispatcher
    finally:
        runtime.engine.dispose()
