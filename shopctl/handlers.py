"""The handlers a bounded replay (`shopctl replay --to-…`) runs: each consumer group's own,
built by its service's bootstrap from the environment the service itself reads (database URL,
Kafka, topic namespace), so a replayed event has exactly the effect it has in the service."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module
from importlib.util import find_spec

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
    settings = import_module(f"{package}.config").load_settings()
    if find_spec(f"{package}.deployable") is not None:  # on the one message path (issue 16)
        app = deployable_of(package).runtime(settings, kafka)
        handler = app.dispatcher
    else:
        app = import_module(f"{package}.bootstrap").bootstrap(settings, kafka)
        handler = app.handler()
    try:
        yield handler
    finally:
        app.engine.dispose()
