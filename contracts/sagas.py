"""Saga progress, published by the orchestrator so the order service can show it."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Message
from eventing import topics
from eventing.registry import registry


class SagaStep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    status: str
    at: datetime


@registry.register
class SagaProgressed(Message):
    """The saga's whole state after a change; `version` grows with every change."""

    event_type: ClassVar[str] = "SagaProgressed"
    topic: ClassVar[str] = topics.SAGA_PROGRESS
    aggregate_type: ClassVar[str] = "Saga"
    aggregate_key: ClassVar[str] = "order_id"

    order_id: str
    saga_id: str
    saga_type: str
    state: str
    version: int = Field(ge=1)
    steps: list[SagaStep]
