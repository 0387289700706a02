"""What the orchestrator needs of storage: the saga store and the unit of work that holds it.

Two adapters hold to one contract (`tests/contract/test_saga_store.py`): PostgreSQL
(`sagas.framework.store`) and in memory (`sagas.framework.fakes`, for tests without a server).

Every save checks the version it loaded; a concurrent change (another orchestrator instance,
or the timeout loop) makes it fail with `ConcurrentSagaUpdate`, a TransientError, so the
consumer retries the message against the fresh state and a saga never advances twice.

The store also knows when a saga's command left: each saga names the outbox row of the copy
it awaits (`awaited_command_id`), and the relay marks that row published. A deadline is
written as if the command left when it was written; `due` moves it by the time the command
waited to be published, so an outage of the broker or of the relay costs no participant its
time to answer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta

from eventing.errors import TransientError
from sagas.framework.engine import SagaInstance
from servicekit.unit_of_work import UnitOfWork


class ConcurrentSagaUpdate(TransientError):
    """Someone else changed the saga since it was loaded: retry against the fresh state."""


@dataclass(frozen=True)
class DueSaga:
    saga_id: str
    sent_after: timedelta
    """How long its awaited command waited in the outbox (0 when that is unknown)."""


@dataclass(frozen=True)
class UnsentCommand:
    """A saga whose awaited command has not left the outbox since `written_at`."""

    saga_id: str
    saga_type: str
    key: str
    step: str | None
    command_id: str
    command_type: str
    written_at: datetime


class SagaStore(ABC):
    """Saga instances and their step logs, inside one unit of work."""

    @abstractmethod
    def add(self, instance: SagaInstance) -> bool:
        """Store a new instance (version 1, its log entries); False, and nothing stored, if
        one already exists for its type and key."""

    @abstractmethod
    def get(self, saga_id: str, *, lock: bool = False) -> SagaInstance | None:
        """The instance, as stored (`lock`: held by this unit of work until it ends)."""

    @abstractmethod
    def find(self, saga_type: str, key: str) -> SagaInstance | None: ...

    @abstractmethod
    def newest(self, keys: list[str]) -> dict[str, SagaInstance]:
        """Of the sagas of each of `keys` (of any type), the one started last, by key; keys
        with no saga are left out. An order's checkout, then its cancellation once asked."""

    @abstractmethod
    def save(self, instance: SagaInstance) -> None:
        """Store the instance's new state and log entries, if its version is still the
        stored one (then the version grows by one); else `ConcurrentSagaUpdate`."""

    @abstractmethod
    def next_progress_version(self) -> int:
        """A number larger than every one given before (like a sequence, never reused)."""

    @abstractmethod
    def due(self, now: datetime, limit: int = 100) -> list[DueSaga]:
        """Active sagas whose deadline passed, counted from when their awaited command was
        published, earliest deadline first (in PostgreSQL locked for this unit of work; other
        orchestrators skip them).

        The effective deadline is the stored one plus how long the awaited command waited to
        be published. A command not yet published is never due; a saga awaiting no command (a
        pause) or whose command is no longer in the outbox (pruned) keeps its stored deadline."""

    @abstractmethod
    def unsent_unreported(
        self, now: datetime, unsent_for: timedelta, limit: int = 100
    ) -> list[UnsentCommand]:
        """Active sagas past their stored deadline whose awaited command is still unpublished
        `unsent_for` after it was written, not reported yet for that command; marked reported
        in this unit of work."""

    @abstractmethod
    def count_by_state(self) -> dict[str, int]: ...


class SagaUnitOfWork(UnitOfWork):
    """The orchestrator's unit of work: the saga store beside the outbox and the inbox."""

    sagas: SagaStore

    def correlation_id(self) -> str | None:
        """The correlation id of the message in hand: a reply names its saga with it."""
        return None if self.message is None else self.message.correlation_id
