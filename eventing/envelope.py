"""The event envelope: what every message on every topic looks like.

The Kafka key is the envelope's `aggregate_id`, so one aggregate's messages stay in order in one
partition. Trace context does not live in the envelope but in Kafka headers (W3C `traceparent`,
`tracestate`), where every OpenTelemetry-aware tool looks for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from eventing.errors import UndecodableMessage


def utc_now() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """Metadata every message carries, plus its type-specific payload (validated separately)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(min_length=1)
    schema_version: int = Field(default=1, ge=1)
    aggregate_type: str = Field(min_length=1)
    aggregate_id: str = Field(min_length=1)
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str = Field(min_length=1)
    causation_id: str | None = None
    payload: dict[str, Any]

    def key(self) -> bytes:
        return self.aggregate_id.encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, value: bytes | None) -> Envelope:
        if value is None:
            raise UndecodableMessage("the message has no value")
        try:
            return cls.model_validate_json(value)
        except ValidationError as error:
            raise UndecodableMessage(f"not an event envelope: {_summary(error)}") from error


def _summary(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'value'}: {item['msg']}"
        for item in error.errors()[:5]
    )


def validation_summary(error: ValidationError) -> str:
    """One readable line for a pydantic validation error (for logs and dead-letter headers)."""
    return _summary(error)
