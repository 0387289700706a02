"""`shopctl wait`: block until the shop's workers have joined their consumer groups.

A worker that is alive has not necessarily joined its group yet: on a cold machine importing and
joining takes a while, and a command sent to a participant that holds no partition waits for it.
`make up` and scripts wait here before sending the first checkout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from eventing.config import KafkaSettings
from eventing.kafka_offsets import consumer_groups


@dataclass(frozen=True)
class GroupsNotReady(Exception):
    waiting: dict[str, str]
    timeout_s: float

    def __str__(self) -> str:
        return f"after {self.timeout_s:.0f}s still waiting for {describe(self.waiting)}"


def describe(waiting: dict[str, str]) -> str:
    return ", ".join(f"group {group} ({state})" for group, state in sorted(waiting.items()))


def not_ready(states: dict[str, str], groups: Iterable[str]) -> dict[str, str]:
    """Each of `groups` whose state is not STABLE, with its state ("not joined" if absent)."""
    return {
        group: (states.get(group) or "not joined").lower()
        for group in groups
        if states.get(group) != "STABLE"
    }


def wait_for_groups(
    settings: KafkaSettings,
    groups: Iterable[str],
    *,
    timeout_s: float,
    on_wait: Callable[[dict[str, str]], None] = lambda _waiting: None,
    poll_s: float = 0.5,
) -> None:
    """Return once every group (plain names, qualified here) is STABLE; raise GroupsNotReady
    after `timeout_s`. `on_wait` hears what is still awaited after each unsuccessful look."""
    qualified = {settings.qualify(group): group for group in groups}
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = not_ready(consumer_groups(settings), qualified)
        if not waiting:
            return
        plain = {qualified[group]: state for group, state in waiting.items()}
        if time.monotonic() >= deadline:
            raise GroupsNotReady(plain, timeout_s)
        on_wait(plain)
        time.sleep(poll_s)
