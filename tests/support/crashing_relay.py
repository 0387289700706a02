"""A relay process that dies by SIGKILL in the middle of its first batch, at one of two moments:

- `after-publish`: Kafka acknowledged the batch but the rows are not marked published yet (the
  worst moment: the batch will be published again);
- `before-publish`: the rows are claimed (their lanes locked) but nothing was sent yet.

Usage: python -m tests.support.crashing_relay DATABASE_URL after-publish|before-publish
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
    def __init__(self, settings: KafkaSettings, moment: str):
        super().__init__(settings)
        self.moment = moment

    def deliver(self, messages, timeout_s: float = 30.0):
        if self.moment == "before-publish":
            os.kill(os.getpid(), signal.SIGKILL)
        deliveries = super().deliver(messages, timeout_s)
        assert all(delivery.delivered for delivery in deliveries)
        os.kill(os.getpid(), signal.SIGKILL)
        return deliveries


def main() -> None:
    engine = sa.create_engine(sys.argv[1])
    publisher = DyingPublisher(KafkaSettings.from_env(), moment=sys.argv[2])
    relay = OutboxRelay(engine, ledger.outbox, publisher, batch_size=10_000)
    relay.publish_pending()


if __name__ == "__main__":
    main()
