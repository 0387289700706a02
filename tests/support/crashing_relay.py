"""A relay process that dies by SIGKILL right after Kafka acknowledged its first batch and before
it could mark the rows as published: the worst moment for a crash.

Usage: python -m tests.support.crashing_relay DATABASE_URL
"""

from __future__ import annotations

import os
import signal
import sys

import sqlalchemy as sa

from eventing.config import KafkaSettings
from eventing.outbox import OutboxRelay
from eventing.producer import KafkaPublisher
from testkit import ledger


class DyingPublisher(KafkaPublisher):
    def publish(self, messages, timeout_s: float = 30.0) -> int:
        count = super().publish(messages, timeout_s)
        os.kill(os.getpid(), signal.SIGKILL)
        return count


def main() -> None:
    engine = sa.create_engine(sys.argv[1])
    relay = OutboxRelay(
        engine, ledger.outbox, DyingPublisher(KafkaSettings.from_env()), batch_size=10_000
    )
    relay.publish_pending()


if __name__ == "__main__":
    main()
