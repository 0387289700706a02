"""Event contracts: which pydantic model validates the payload of each type and version."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from eventing.envelope import Envelope, validation_summary
from eventing.errors import InvalidPayload, UnknownEventType


class Event(BaseModel):
    """Base of every payload model. Subclasses name their contract with `register`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    topic: ClassVar[str]
    """Where the message travels; a contract sets it, a test may pass its own topic instead."""
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    aggregate_key: ClassVar[str]
    """The field holding the aggregate's id, which becomes the Kafka key."""

    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_key))


E = TypeVar("E", bound=type[Event])


@dataclass(frozen=True)
class Decoded:
    envelope: Envelope
    event: Event


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[tuple[str, int], type[Event]] = {}

    def register(self, model: E) -> E:
        key = (model.event_type, model.schema_version)
        existing = self._models.get(key)
        if existing is not None and existing is not model:
            raise ValueError(f"{key} is already registered to {existing.__name__}")
        self._models[key] = model
        return model

    def model_for(self, event_type: str, schema_version: int) -> type[Event]:
        try:
            return self._models[(event_type, schema_version)]
        except KeyError:
            raise UnknownEventType(
                f"no contract for event type {event_type!r} version {schema_version}"
            ) from None

    def decode(self, value: bytes | None) -> Decoded:
        """Bytes from Kafka to a validated event; raises a PoisonMessage subclass otherwise."""
        envelope = Envelope.from_bytes(value)
        model = self.model_for(envelope.type, envelope.schema_version)
        try:
            event = model.model_validate(envelope.payload)
        except ValidationError as error:
            raise InvalidPayload(
                f"invalid {envelope.type} v{envelope.schema_version} payload: "
                f"{validation_summary(error)}"
            ) from error
        return Decoded(envelope, event)

    def types(self) -> list[tuple[str, int]]:
        return sorted(self._models)


registry = EventRegistry()
"""The shop's registry; `contracts` registers every message type in it on import."""


def envelope_for(
    event: Event,
    *,
    correlation_id: str | uuid.UUID | None = None,
    causation: Envelope | None = None,
    **fields: Any,
) -> Envelope:
    """Wrap an event in an envelope. A caused event inherits its cause's correlation id."""
    if correlation_id is None:
        correlation_id = causation.correlation_id if causation else str(uuid.uuid4())
    return Envelope(
        type=event.event_type,
        schema_version=event.schema_version,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id(),
        correlation_id=str(correlation_id),
        causation_id=str(causation.event_id) if causation else None,
        payload=event.model_dump(mode="json"),
        **fields,
    )
