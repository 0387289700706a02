"""Base and shared value types of the contracts."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from eventing.registry import Event

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Cents = Annotated[int, Field(ge=0)]
Quantity = Annotated[int, Field(ge=1)]


class Message(Event):
    """An event or command of the shop."""


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sku: Sku
    quantity: Quantity


class PricedLineItem(LineItem):
    unit_price_cents: Cents
