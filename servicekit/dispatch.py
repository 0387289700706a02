"""The message path every consumer shares: one message, one unit of work.

The dispatcher owns what each handler needs and no author should write by hand: it opens the
unit of work, makes the message the cause of everything emitted (causation, correlation, and
the trace context the consumer's span set), claims the message in the inbox, calls the use
case the deployable's table names for the message's type, and commits. A message of a type
the table does not name (another service's message on a shared topic) is left alone.

A retryable database failure anywhere in that transaction is a `TransientError`, so the
consumer retries the message after a backoff instead of dead-lettering it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from eventing.db_errors import translate_db_errors
from eventing.registry import Decoded, Event
from servicekit.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

U = TypeVar("U", bound=UnitOfWork)
UseCase = Callable[[U, Any], None]
"""`use_case(uow, message)`: apply one message inside an open unit of work; the dispatcher
commits it."""
UseCases = Mapping[type[Event], UseCase[U]]
"""A deployable's handler table: message type -> the use case that applies it."""


class Dispatcher(Generic[U]):
    """The consumer's handler for a deployable: `Dispatcher(uow_factory, use_cases)`."""

    def __init__(self, uow_factory: Callable[[], U], use_cases: UseCases[U]):
        self.uow_factory = uow_factory
        self.use_cases = dict(use_cases)

    def handles(self, message_type: type[Event]) -> bool:
        return message_type in self.use_cases

    def __call__(self, decoded: Decoded) -> None:
        use_case = self.use_cases.get(type(decoded.event))
        if use_case is None:
            return
        with translate_db_errors(), self.uow_factory() as uow:
            uow.handling(decoded.envelope)
            if not uow.claim(decoded.envelope):
                log.debug("%s %s already applied", decoded.envelope.type, decoded.envelope.event_id)
                return
            use_case(uow, decoded.event)
            uow.commit()
