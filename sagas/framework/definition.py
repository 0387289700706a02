"""Declaring a saga: ordered steps, each a command with the replies that answer it.

A step is either *compensatable* (it has a compensation, and a failure or timeout aborts the
saga) or *retriable* (it comes after the point of no return: on timeout its command is sent
again until it is answered). A saga definition is data; the engine runs any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventing.registry import Event

SagaData = dict[str, Any]
CommandFactory = Callable[[SagaData], Event]


@dataclass(frozen=True)
class Step:
    name: str
    command: CommandFactory
    succeeded_by: tuple[type[Event], ...]
    failed_by: Mapping[type[Event], Callable[[Event], str]] = field(default_factory=dict)
    """Failure replies, each with how to read the failure reason from it."""
    compensation: CommandFactory | None = None
    compensated_by: tuple[type[Event], ...] = ()
    timeout_s: float = 10.0
    retriable: bool = False
    """Past the point of no return: on timeout, send the command again instead of aborting."""
    remember: Callable[[Event], SagaData] | None = None
    """What to keep from the success reply in the saga's data (e.g. a payment id)."""

    def __post_init__(self) -> None:
        if self.retriable and self.failed_by:
            raise ValueError(f"step {self.name}: a retriable step cannot fail")
        if (self.compensation is None) != (not self.compensated_by):
            raise ValueError(f"step {self.name}: a compensation needs the replies confirming it")

    def answers(self, reply: Event) -> bool:
        return isinstance(reply, self.succeeded_by) or type(reply) in self.failed_by


@dataclass(frozen=True)
class SagaDefinition:
    name: str
    steps: tuple[Step, ...]
    started_by: type[Event]
    key: Callable[[Event], str]
    """The business key of an instance (one instance per definition and key)."""
    initial_data: Callable[[Event], SagaData]
    on_abort: Step | None = None
    """A retriable step run after the compensations, with `failure_reason` in the data."""
    timeout_reason: str = "TIMEOUT"
    key_attribute: str = "saga.key"
    """The span attribute naming the business key (e.g. `order.id`)."""
    max_compensation_attempts: int = 8
    retry_base_delay_s: float = 1.0
    retry_max_delay_s: float = 60.0

    def __post_init__(self) -> None:
        names = [step.name for step in self.all_steps()]
        if len(names) != len(set(names)):
            raise ValueError(f"saga {self.name}: step names must be unique")
        if self.on_abort is not None and not self.on_abort.retriable:
            raise ValueError(f"saga {self.name}: the abort step must be retriable")

    def all_steps(self) -> tuple[Step, ...]:
        return self.steps + ((self.on_abort,) if self.on_abort else ())

    def step(self, name: str) -> Step:
        for step in self.all_steps():
            if step.name == name:
                return step
        raise KeyError(name)

    def reply_types(self) -> set[type[Event]]:
        types: set[type[Event]] = set()
        for step in self.all_steps():
            types.update(step.succeeded_by, step.failed_by, step.compensated_by)
        return types
