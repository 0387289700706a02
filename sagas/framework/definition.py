"""Declaring a saga: ordered steps, each a command with the replies that answer it.

A step is either *compensatable* (it has a compensation, and a failure, or a timeout once its
retry policy is exhausted, aborts the saga) or *retriable* (it comes after the point of no
return: on timeout its command is sent again until it is answered). A saga definition is data;
the engine runs any of them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eventing.registry import Event

SagaData = dict[str, Any]
CommandFactory = Callable[[SagaData], Event]


_MAX_DOUBLINGS = 60
"""Past this many doublings every delay is capped anyway; it keeps 2**n a float's size."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often, and how patiently, an unanswered command is sent again.

    `attempts` counts every send, the first included (None: until answered). Between two
    sends the saga pauses: `base_delay_s` doubled per resend, capped at `max_delay_s`, times a
    jitter in [0.5, 1) drawn from the saga id and the attempt, so sagas that timed out together
    do not resend together, while the engine stays pure (the same saga and attempt always pause
    alike). `deadline_s` bounds the whole step, however many attempts are left: it is given up
    once it has been outstanding that long, counted from its command's first publish (time a
    copy spent waiting in the outbox does not count). Resending is safe because participants
    record one outcome per order and answer every copy with it."""

    attempts: int | None = 1
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")
        if not 0 <= self.base_delay_s <= self.max_delay_s:
            raise ValueError("retry delays must satisfy 0 <= base_delay_s <= max_delay_s")
        if self.deadline_s is not None and self.deadline_s <= 0:
            raise ValueError("a step deadline must be positive")

    @property
    def bounded(self) -> bool:
        """Whether the policy ever gives up (a retriable step's policy must not)."""
        return self.attempts is not None or self.deadline_s is not None

    def exhausted(self, attempts: int) -> bool:
        """Whether `attempts` sends are all the policy allows."""
        return self.attempts is not None and attempts >= self.attempts

    def backoff_s(self, saga_id: str, attempt: int) -> float:
        """The pause before send number `attempt` (2 is the first resend)."""
        doublings = min(max(attempt - 2, 0), _MAX_DOUBLINGS)
        ceiling = min(self.max_delay_s, self.base_delay_s * 2.0**doublings)
        return ceiling * (0.5 + _fraction(f"{saga_id}/{attempt}") / 2)


def _fraction(seed: str) -> float:
    """A number in [0, 1) that depends only on `seed`."""
    return zlib.crc32(seed.encode()) / 2**32


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
    """How long each attempt waits for its reply, counted from when its command was published."""
    retriable: bool = False
    """Past the point of no return: on timeout, send the command again instead of aborting."""
    retry: RetryPolicy = RetryPolicy()
    """When an attempt times out: send again (after a pause) or give up. A retriable step's
    policy is unbounded; a compensatable step's default gives up at the first timeout."""
    remember: Callable[[Event], SagaData] | None = None
    """What to keep from the success reply in the saga's data (e.g. a payment id)."""

    def __post_init__(self) -> None:
        if self.retriable and self.failed_by:
            raise ValueError(f"step {self.name}: a retriable step cannot fail")
        if self.retriable and self.retry.bounded:
            raise ValueError(f"step {self.name}: a retriable step is resent until answered")
        if not self.retriable and not self.retry.bounded:
            raise ValueError(f"step {self.name}: a compensatable step must give up some time")
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
    compensation_retry: RetryPolicy = RetryPolicy(attempts=8)
    """How compensations are resent; one unanswered after its attempts parks the saga."""

    def __post_init__(self) -> None:
        names = [step.name for step in self.all_steps()]
        if len(names) != len(set(names)):
            raise ValueError(f"saga {self.name}: step names must be unique")
        if self.on_abort is not None and not self.on_abort.retriable:
            raise ValueError(f"saga {self.name}: the abort step must be retriable")
        if not self.compensation_retry.bounded:
            raise ValueError(f"saga {self.name}: an unanswered compensation must park some time")

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
