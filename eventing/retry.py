"""The one backoff of the shop's processes: exponential, capped, with jitter on its upper half.

Consumers retry a failed message with it, the outbox relay a failed pass, the search indexer a
write to an Elasticsearch that is down.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    """Attempts for an unexpected error before the message is dead-lettered."""
    base_delay_s: float = 0.2
    max_delay_s: float = 2.0
    """The cap of the backoff. A transient failure is retried for as long as it lasts, so the
    cap is also how late a consumer may notice that its database is back: a 30 s outage with
    a 30 s cap left it asleep for up to 25 s more. A retry every 2 s costs the server nothing."""

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter on its upper half."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)
