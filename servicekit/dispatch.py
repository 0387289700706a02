"""The message path every consumer shares: messages applied in one unit of work.

The dispatcher owns what each handler needs and no author should write by hand: it opens the
unit of work, makes each message the cause of everything emitted while it is applied
(causation, correlation, and the trace context the consumer's span set), claims the message in
the inbox, calls the use case the deployable's table names for the message's type, and
commits. A message of a type the table does not name (another service's message on a shared
topic) is left alone.

The consumer hands it a partition's run of messages at once (`batch`): they are applied one
after the other in one transaction, committed together, so a run of N messages costs one
commit instead of N. A message that fails leaves the batch uncommitted; the consumer then
applies the messages before it again and deals with the failing one alone (retry or dead
letter), so the outcome is that of one transaction per message. Each message's changes are
flushed once its use case returned, so a failure is raised by the message that caused it, not
by the commit.

A retryable database failure anywhere in that transaction is a `TransientError`, so the
consumer retries the message after a backoff instead of dead-lettering it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from eventing.db_errors import translate_db_errors
from eventing.registry import Decoded, Event
from servicekit.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)
UseCase = Callable[[U, Any], object]
"""`use_case(uow, message)`: apply one message inside an open unit of work; the dispatcher
commits it (and ignores what it returns: a saga's local step, applied from a topic, answers
with its reply)."""
UseCases = Mapping[type[Event], UseCase[U]]
"""A deployable's handler table: message type -> the use case that applies it."""


class DispatchBatch(Generic[U]):
    """Messages applied in one open unit of work: `apply` each, then `commit` them all."""

    def __init__(self, uow: U, use_cases: Mapping[type[Event], UseCase[U]]):
        self.uow = uow
        self.use_cases = use_cases

    def apply(self, decoded: Decoded) -> None:
        use_case = self.use_cases.get(type(decoded.event))
        if use_case is None:
            return
        with translate_db_errors():
            self.uow.handling(decoded.envelope)
            if not self.uow.claim(decoded.envelope):
                log.debug("%s %s already applied", decoded.envelope.type, decoded.envelope.event_id)
                return
            use_case(self.uow, decoded.event)
            self.uow.flush()

    def commit(self) -> None:
        self.uow.commit()


class Dispatcher(Generic[U]):
    """The consumer's handler for a deployable: `Dispatcher(uow_factory, use_cases)`."""

    def __init__(self, uow_factory: Callable[[], U], use_cases: UseCases[U]):
        self.uow_factory = uow_factory
        self.use_cases = dict(use_cases)

    def handles(self, message_type: type[Event]) -> bool:
        return message_type in self.use_cases

    @contextmanager
    def batch(self) -> Iterator[DispatchBatch[U]]:
        """A unit of work for a run of messages; left without `commit`, none of them counts."""
        with translate_db_errors(), self.uow_factory() as uow:
            yield DispatchBatch(uow, self.use_cases)

    def __call__(self, decoded: Decoded) -> None:
        """Apply one message in a unit of work of its own."""
        with self.batch() as batch:
            batch.apply(decoded)
            batch.commit()
