"""The orchestrator's storage in memory: the fake adapters of `sagas.framework.ports`, held to
the same contract as PostgreSQL's (`tests/contract/test_saga_store.py`), for tests that run the
orchestrator without a server.

`InMemorySagaTables` plays the orchestrator's database, shared by every unit of work of one
fake orchestrator: the saga rows, and of its outbox what the store reads (when each command was
written and when the relay published it). `publish` plays the relay.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from eventing.envelope import Envelope, utc_now
from sagas.framework.engine import ACTIVE_STATES, SagaInstance
from sagas.framework.ports import (
    ConcurrentSagaUpdate,
    DueSaga,
    SagaStore,
    SagaUnitOfWork,
    UnsentCommand,
)
from servicekit.unit_of_work import InMemoryMessageStore, InMemoryUnitOfWork

Clock = Callable[[], datetime]


@dataclass
class CommandInOutbox:
    """An outbox row as the saga store reads it."""

    command_type: str
    written_at: datetime
    published_at: datetime | None = None


@dataclass
class StoredSaga:
    instance: SagaInstance
    """As stored: its version is the stored one, no log entry is pending."""
    unsent_reported_id: str | None = None
    """The awaited command last reported as unsent (once per saga and command)."""


@dataclass
class InMemorySagaTables:
    sagas: dict[str, StoredSaga] = field(default_factory=dict)
    outbox: dict[str, CommandInOutbox] = field(default_factory=dict)
    """By event id."""
    progress_seq: int = 0
    """Like a database sequence, not rolled back with a unit of work."""

    def publish(self, at: datetime, event_ids: Iterable[str] | None = None) -> int:
        """What the relay does: mark the given commands (every unpublished one, if none are
        given) published at `at`; returns how many it marked."""
        ids = list(self.outbox) if event_ids is None else list(event_ids)
        unpublished = [i for i in ids if i in self.outbox and self.outbox[i].published_at is None]
        for event_id in unpublished:
            self.outbox[event_id].published_at = at
        return len(unpublished)

    def written(self, envelope: Envelope, at: datetime) -> None:
        """What the outbox insert does: the row of `envelope`, written at `at`, unpublished."""
        self.outbox[str(envelope.event_id)] = CommandInOutbox(envelope.type, at)

    def prune(self, event_id: str) -> None:
        """What the outbox pruner does to a published row."""
        self.outbox.pop(event_id, None)


def _stored_copy(instance: SagaInstance) -> SagaInstance:
    stored = copy.deepcopy(instance)
    stored.new_entries = 0
    return stored


class InMemorySagaStore(SagaStore):
    def __init__(self, tables: InMemorySagaTables):
        self.tables = tables

    def add(self, instance: SagaInstance) -> bool:
        if self.find(instance.saga_type, instance.key) is not None:
            return False
        instance.version = 1
        instance.new_entries = 0
        self.tables.sagas[instance.saga_id] = StoredSaga(_stored_copy(instance))
        return True

    def get(self, saga_id: str, *, lock: bool = False) -> SagaInstance | None:
        stored = self.tables.sagas.get(saga_id)
        return None if stored is None else copy.deepcopy(stored.instance)

    def find(self, saga_type: str, key: str) -> SagaInstance | None:
        for stored in self.tables.sagas.values():
            if (stored.instance.saga_type, stored.instance.key) == (saga_type, key):
                return copy.deepcopy(stored.instance)
        return None

    def newest(self, keys: list[str]) -> dict[str, SagaInstance]:
        """The tables keep the sagas in the order they were added: the last of a key wins."""
        wanted = set(keys)
        found = {
            stored.instance.key: stored.instance
            for stored in self.tables.sagas.values()
            if stored.instance.key in wanted
        }
        return {key: copy.deepcopy(instance) for key, instance in found.items()}

    def save(self, instance: SagaInstance) -> None:
        stored = self.tables.sagas.get(instance.saga_id)
        if stored is None or stored.instance.version != instance.version:
            raise ConcurrentSagaUpdate(f"saga {instance.saga_id} changed since it was loaded")
        instance.version += 1
        instance.new_entries = 0
        stored.instance = _stored_copy(instance)

    def next_progress_version(self) -> int:
        self.tables.progress_seq += 1
        return self.tables.progress_seq

    def due(self, now: datetime, limit: int = 100) -> list[DueSaga]:
        due: list[tuple[datetime, DueSaga]] = []
        for saga in self._past_deadline(now):
            assert saga.deadline is not None
            command = self._awaited_command(saga)
            if command is None:
                due.append((saga.deadline, DueSaga(saga.saga_id, timedelta(0))))
            elif command.published_at is not None:
                sent_after = max(command.published_at - command.written_at, timedelta(0))
                if saga.deadline + sent_after <= now:
                    due.append((saga.deadline, DueSaga(saga.saga_id, sent_after)))
        return [saga for _, saga in sorted(due, key=lambda item: item[0])][:limit]

    def unsent_unreported(
        self, now: datetime, unsent_for: timedelta, limit: int = 100
    ) -> list[UnsentCommand]:
        unsent: list[UnsentCommand] = []
        for saga in self._past_deadline(now):
            command = self._awaited_command(saga)
            stored = self.tables.sagas[saga.saga_id]
            if (
                command is not None
                and command.published_at is None
                and command.written_at <= now - unsent_for
                and stored.unsent_reported_id != saga.awaited_command_id
            ):
                unsent.append(
                    UnsentCommand(
                        saga.saga_id,
                        saga.saga_type,
                        saga.key,
                        saga.current_step,
                        str(saga.awaited_command_id),
                        command.command_type,
                        command.written_at,
                    )
                )
        unsent = sorted(unsent, key=lambda command: command.written_at)[:limit]
        for report in unsent:
            self.tables.sagas[report.saga_id].unsent_reported_id = report.command_id
        return unsent

    def count_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for stored in self.tables.sagas.values():
            state = stored.instance.state.value
            counts[state] = counts.get(state, 0) + 1
        return counts

    def _past_deadline(self, now: datetime) -> list[SagaInstance]:
        return [
            stored.instance
            for stored in self.tables.sagas.values()
            if stored.instance.state in ACTIVE_STATES
            and stored.instance.deadline is not None
            and stored.instance.deadline <= now
        ]

    def _awaited_command(self, saga: SagaInstance) -> CommandInOutbox | None:
        if saga.awaited_command_id is None:
            return None
        return self.tables.outbox.get(saga.awaited_command_id)


class InMemorySagaUnitOfWork(InMemoryUnitOfWork, SagaUnitOfWork):
    """The orchestrator's unit of work in memory. Each command it emits is also written to the
    tables' outbox at `clock()`, unpublished until `InMemorySagaTables.publish`."""

    def __init__(
        self,
        tables: InMemorySagaTables,
        messages: InMemoryMessageStore | None = None,
        *,
        clock: Clock = utc_now,
    ):
        super().__init__(messages)
        self.tables = tables
        self.clock = clock

    def _begin(self) -> None:
        self.sagas = InMemorySagaStore(self.tables)
        super()._begin()

    def add_to_outbox(self, topic: str, envelope: Envelope) -> None:
        super().add_to_outbox(topic, envelope)
        self.tables.written(envelope, self.clock())

    def _snapshot(self) -> Any:
        return copy.deepcopy((self.tables.sagas, self.tables.outbox))

    def _restore(self, saved: Any) -> None:
        self.tables.sagas, self.tables.outbox = saved
