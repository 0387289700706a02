"""The backbone's error hierarchy: callers catch these, never a driver's exceptions.

Two families decide what a consumer does with a failing message:
- `TransientError`: the world is briefly wrong (database or broker down, a deadlock); retry the
  same message with backoff, keeping the partition's order.
- `PoisonMessage`: the message itself is wrong (undecodable, unknown type, invalid payload);
  retrying cannot help, so it goes to the dead-letter topic and the consumer moves on.
"""

from __future__ import annotations


class EventingError(Exception):
    """Base of every error the eventing package raises."""


class TransientError(EventingError):
    """A failure that may succeed when retried."""


class KafkaUnavailable(TransientError):
    """The Kafka cluster did not answer in time."""


class PublishError(EventingError):
    """Kafka refused or failed to store a message."""


class PoisonMessage(EventingError):
    """A message that can never be handled as it is."""


class UndecodableMessage(PoisonMessage):
    """The bytes are not a JSON event envelope."""


class UnknownEventType(PoisonMessage):
    """No contract is registered for the event's type and schema version."""


class InvalidPayload(PoisonMessage):
    """The payload does not satisfy its event type's contract."""


class OperationRefused(EventingError):
    """An operator's operation on the backbone would be unsafe or makes no sense as asked."""
