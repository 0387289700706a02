"""The operators' audit log: who did what to the shop, and when, from `shopctl` or the console.

Every operator action is recorded after it took effect, on the one-partition topic
`operator.audit`, so the log reads back in the order it happened: saga retries, redrives and
discards by the operation the console and the CLI share (they cannot disagree about what is
recorded); replays, outbox retries and discards and search rebuilds, which only shopctl runs,
by its command.
An action first makes sure the log can be written (`prepare`), creating the topic from its
declaration when a stack predates it, so that nothing is done that could not be recorded.
The inventory API's admin writes reach the same topic through its outbox (`servicekit.audit`).
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import UTC, datetime
from typing import cast

from eventing.config import KafkaSettings
from eventing.kafka_admin import admin_client
from eventing.kafka_offsets import topic_extent
from eventing.kafka_reading import read_range
from eventing.producer import KafkaPublisher, OutgoingMessage
from eventing.topics import OPERATOR_AUDIT, record_topics
from servicekit.audit import AuditEntry

__all__ = ["AuditEntry", "cli_actor", "prepare", "recent", "record"]


def cli_actor() -> str:
    """Who runs shopctl: `SHOPCTL_OPERATOR` when set, else the login user and host."""
    return "shopctl:" + (
        os.environ.get("SHOPCTL_OPERATOR") or f"{getpass.getuser()}@{socket.gethostname()}"
    )


def prepare(settings: KafkaSettings) -> None:
    """Before an action: the audit topic exists (created as `eventing/topics.py` declares it
    when missing); raises when Kafka cannot say or create it, and the action is not taken."""
    from eventing.kafka_admin import ensure_topics

    topic = settings.qualify(OPERATOR_AUDIT)
    if topic not in admin_client(settings).list_topics(timeout=10).topics:
        ensure_topics(settings, [spec for spec in record_topics() if spec.name == OPERATOR_AUDIT])


def record(
    settings: KafkaSettings, actor: str, action: str, target: str, detail: str = ""
) -> AuditEntry:
    """Append an entry (acknowledged by the broker before this returns)."""
    entry = AuditEntry(datetime.now(UTC), actor, action, target, detail)
    publisher = KafkaPublisher(settings)
    try:
        publisher.publish(
            [OutgoingMessage(settings.qualify(OPERATOR_AUDIT), target.encode(), entry.to_json())]
        )
    finally:
        publisher.close()
    return entry


def recent(settings: KafkaSettings, limit: int = 100) -> list[AuditEntry]:
    """The newest `limit` entries, newest first."""
    topic = settings.qualify(OPERATOR_AUDIT)
    extent = topic_extent(admin_client(settings), topic)
    ends = extent.latest
    starts = {p: max(extent.earliest.get(p, 0), end - limit) for p, end in ends.items()}
    entries = [
        AuditEntry.from_json(cast(bytes, message.value()))  # entries are never tombstones
        for batch in read_range(settings, topic, starts, ends)
        for message in batch
    ]
    return sorted(entries, key=lambda entry: entry.at, reverse=True)[:limit]
