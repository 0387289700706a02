"""Audit entries: who did what to the shop, and when, on the one-partition topic
`operator.audit` (read back by `shopctl audit` and the console's audit log).

Two writers, one trail. `shopctl` and the console append an entry after their operation took
effect (`shopctl.audit.record`: the entry's JSON as the message). An API's admin write records
its entry in its unit of work (`add_to_outbox`), beside the write, so a write is recorded
exactly when it commits; the relay publishes it as an envelope whose payload
is the entry. `AuditEntry.from_json` reads both.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eventing.envelope import Envelope
from eventing.topics import OPERATOR_AUDIT

if TYPE_CHECKING:  # shopctl reads entries without the unit of work's imports
    from servicekit.unit_of_work import UnitOfWork

ENVELOPE_TYPE = "AuditEntry"
"""The envelope type of an entry an API's outbox publishes."""
MAX_DETAIL_CHARS = 500


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    """`console:<name the operator logged in with>`, `shopctl:<user>@<host>`, or
    `<service>:admin@<client address>` for an API's admin write."""
    action: str
    """e.g. `saga.retry`, `sagas.retry-matching`, `dlq.redrive`, `dlq.discard`, `replay`,
    `outbox.retry`, `product.create`, `product.update`, `product.restock`, `product.delete`."""
    target: str
    detail: str = ""

    def fields(self) -> dict[str, Any]:
        return asdict(self) | {"at": self.at.isoformat()}

    def to_json(self) -> bytes:
        return json.dumps(self.fields()).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> AuditEntry:
        """An entry as shopctl writes it, or wrapped in an outbox envelope."""
        fields = json.loads(raw)
        if fields.get("type") == ENVELOPE_TYPE and isinstance(fields.get("payload"), dict):
            fields = fields["payload"]
        return cls(**(fields | {"at": datetime.fromisoformat(fields["at"])}))


def add_to_outbox(
    uow: UnitOfWork, actor: str, action: str, target: str, detail: str = ""
) -> AuditEntry:
    """Record an entry in the caller's unit of work: published when (and only if) it commits.
    An entry is not a message of the registry (no schema version, no cause): it goes in as a
    prebuilt envelope."""
    entry = AuditEntry(datetime.now(UTC), actor, action, target, detail[:MAX_DETAIL_CHARS])
    envelope = Envelope(
        type=ENVELOPE_TYPE,
        aggregate_type="OperatorAction",
        aggregate_id=target,
        occurred_at=entry.at,
        correlation_id=str(uuid.uuid4()),
        payload=entry.fields(),
    )
    uow.add_to_outbox(OPERATOR_AUDIT, envelope)
    return entry
