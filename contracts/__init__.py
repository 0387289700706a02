"""The shop's message contracts: every event and command, versioned, validated by pydantic.

Importing this package registers every type in `eventing.registry.registry`. Producers and
consumers import the same models, so a payload that does not fit its contract is caught at
both ends (and dead-lettered by a consumer, never dropped).
"""

from contracts import inventory, orders, payment, sagas
from contracts.common import Message

__all__ = ["Message", "inventory", "orders", "payment", "sagas"]
