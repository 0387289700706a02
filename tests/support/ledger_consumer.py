"""A ledger consumer process (slow on purpose), for shutdown and rebalance tests.

Usage: python -m tests.support.ledger_consumer DATABASE_URL TOPIC GROUP [SESSION_TIMEOUT_MS]
A static member of GROUP when `KAFKA_GROUP_INSTANCE_ID` is set. Exits 0 after SIGTERM once the
message in hand is applied and offsets are committed.
"""

from __future__ import annotations

import sys
import time

import sqlalchemy as sa

from eventing.config import KafkaSettings
from eventing.consumer import EventConsumer
from servicekit.worker import run_until_signalled
from testkit import ledger


def main() -> int:
    url, topic, group, *session_timeout_ms = sys.argv[1:]
    apply = ledger.applying_handler(sa.create_engine(url))

    def slow_apply(decoded) -> None:
        time.sleep(0.02)
        apply(decoded)

    consumer = EventConsumer(
        KafkaSettings.from_env(),
        group_id=group,
        topics=[topic],
        handler=slow_apply,
        registry=ledger.registry,
        extra_config={"session.timeout.ms": int(session_timeout_ms[0])}
        if session_timeout_ms
        else {},
    )
    print("ready", flush=True)
    return run_until_signalled({"consumer": consumer.run})


if __name__ == "__main__":
    sys.exit(main())
