"""The unit of work: one transaction over a service's state, its outbox and its inbox.

A use case sees only this port: its repositories, `emit(event)` for what it announces, and
(through the dispatcher) the message in hand. The framework, not the use case's author, sets
each emitted event's causation and correlation from that message, and claims the message in
the inbox in the same transaction, so a reply always finds its saga and a redelivery never has
a second effect.

Two adapters hold to one contract (`tests/contract/test_unit_of_work.py`):

- `SqlUnitOfWork`: a SQLAlchemy session; the outbox and inbox are tables in the service's own
  database, written in the session's transaction.
- `InMemoryUnitOfWork`: the same rules in memory, for use-case tests that need no server. A
  service's fake adds its repositories on top, and snapshots them in `_snapshot`/`_restore`.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from eventing.db_errors import translate_db_errors
from eventing.envelope import Envelope
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from eventing.registry import Event, envelope_for
from eventing.tracing import current_trace_headers


class UnitOfWork(ABC):
    """`with uow: ...; uow.commit()`. Leaving without `commit` rolls everything back: the
    state, the emitted events, the inbox claim and the after-commit callbacks."""

    message: Envelope | None = None
    """The message being handled, set by the dispatcher; None for an API request or a timer."""

    def __enter__(self) -> Self:
        self._begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._end()

    def handling(self, message: Envelope) -> None:
        """Make `message` the cause of everything this unit of work emits."""
        self.message = message

    def emit(
        self,
        event: Event,
        *,
        correlation_id: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Announce `event` when this unit of work commits. It is caused by the message in
        hand and shares its correlation id, unless `correlation_id` is given (a saga's
        commands carry the saga's id). `event_id` fixes the envelope's id in advance (a saga
        row remembers the command it awaits before the command is written)."""
        fields: dict[str, Any] = {} if event_id is None else {"event_id": event_id}
        envelope = envelope_for(
            event, causation=self.message, correlation_id=correlation_id, **fields
        )
        self.add_to_outbox(event.topic, envelope)
        return envelope

    @abstractmethod
    def add_to_outbox(self, topic: str, envelope: Envelope) -> None:
        """Record an already built envelope for `topic` (logical name), with the current
        trace context; `emit` is what use cases call."""

    @abstractmethod
    def claim(self, message: Envelope) -> bool:
        """Record `message` as applied by this consumer; False when it already was (the
        caller then does nothing)."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def flush(self) -> None:
        """Send what this unit of work holds to its store now, inside its transaction, so a
        write that breaks a constraint fails here rather than at `commit`."""

    @abstractmethod
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed; never if it rolls back."""

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _end(self) -> None:
        """Roll back what was not committed and release the transaction."""


class SqlUnitOfWork(UnitOfWork):
    """The PostgreSQL adapter. A service's unit of work subclasses it and builds its
    repositories on `self.session` in `_start`."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session], outbox: Outbox, inbox: Inbox):
        self.session_factory = session_factory
        self.outbox = outbox
        self.inbox = inbox

    def _begin(self) -> None:
        self.message = None
        self._callbacks: list[Callable[[], None]] = []
        self.session = self.session_factory()
        self._start()

    def _start(self) -> None:
        """Hook for subclasses: create repositories on `self.session`."""

    def _end(self) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()
            self._callbacks = []

    def add_to_outbox(self, topic: str, envelope: Envelope) -> None:
        self.outbox.add(self.session, topic, envelope)

    def claim(self, message: Envelope) -> bool:
        return self.inbox.claim(self.session, message.event_id, message.type)

    def commit(self) -> None:
        with translate_db_errors():
            self.session.commit()
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def flush(self) -> None:
        with translate_db_errors():
            self.session.flush()

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)


@dataclass(frozen=True)
class Emitted:
    """An event the in-memory outbox holds: what the relay would publish."""

    topic: str
    envelope: Envelope
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class InMemoryMessageStore:
    """The in-memory outbox and inbox, shared by every unit of work of one fake service (as
    the tables are shared by every transaction of the real one)."""

    consumer: str = "fake-consumer"
    outbox: list[Emitted] = field(default_factory=list)
    inbox: set[tuple[str, uuid.UUID]] = field(default_factory=set)

    def events(self) -> list[Event]:
        """The committed events, decoded, in the order they were emitted."""
        from eventing.registry import registry

        return [registry.decode(item.envelope.to_bytes()).event for item in self.outbox]


class InMemoryUnitOfWork(UnitOfWork):
    """The fake adapter: the same transaction rules, no server. A subclass keeps its
    repositories' state in plain objects and says how to snapshot and restore it, so that a
    unit of work left without `commit` leaves no trace."""

    def __init__(self, store: InMemoryMessageStore | None = None):
        self.store = store or InMemoryMessageStore()
        self.committed = False

    def _begin(self) -> None:
        self.message = None
        self._pending: list[Emitted] = []
        self._claims: list[tuple[str, uuid.UUID]] = []
        self._callbacks: list[Callable[[], None]] = []
        self._saved = self._snapshot()

    def _end(self) -> None:
        if self._saved is not None:
            self._restore(self._saved)
        self._pending, self._claims, self._callbacks, self._saved = [], [], [], None

    def _snapshot(self) -> Any:
        """A copy of the repositories' state, taken when the unit of work begins."""
        return None

    def _restore(self, saved: Any) -> None:
        """Put back the state `_snapshot` returned (the unit of work is left uncommitted)."""

    def add_to_outbox(self, topic: str, envelope: Envelope) -> None:
        self._pending.append(Emitted(topic, envelope, current_trace_headers()))

    def claim(self, message: Envelope) -> bool:
        key = (self.store.consumer, message.event_id)
        if key in self.store.inbox or key in self._claims:
            return False
        self._claims.append(key)
        return True

    def commit(self) -> None:
        self.store.outbox.extend(self._pending)
        self.store.inbox.update(self._claims)
        callbacks = self._callbacks
        self._pending, self._claims, self._callbacks = [], [], []
        self._saved = self._snapshot()
        self.committed = True
        for callback in callbacks:
            callback()

    def flush(self) -> None:
        """Nothing to send: the repositories' objects are the store."""

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)
