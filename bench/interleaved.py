"""Two systems driven in turn by the same closed loops (ABBA), their figures paired per run.

`bench.monolith` (the shop against a monolith) and `bench.ab` (this build against an earlier
one) both run their two systems side by side and, for every round and client count, one after
the other, the order swapped every round, so both see the same machine."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from bench.checkout import fmt_run
from bench.report import print_table


class ClosedLoops(Protocol):
    def closed_loop(self, clients: int, seconds: float) -> dict: ...


Ratios = Callable[[dict, dict], dict[str, float]]
"""`ratios(numerator_run, denominator_run)`: one system's figures over the other's."""


def interleaved_pairs(
    systems: Mapping[str, ClosedLoops],
    *,
    clients: Sequence[int],
    rounds: int,
    seconds: float,
    ratios: Ratios,
    ratio_key: str,
    saved: Callable[[list[dict]], None],
) -> list[dict]:
    """Closed loops of each system in turn: the first named first in odd rounds. Each pair
    holds both runs and, under `ratio_key`, `ratios(first named, second named)`; `saved` is
    called with the pairs so far after each one."""
    first, second = systems
    pairs: list[dict] = []
    for round_ in range(rounds):
        for count in clients:
            order = [first, second] if round_ % 2 == 0 else [second, first]
            pair: dict[str, Any] = {"round": round_ + 1, "clients": count, "order": order}
            for name in order:
                pair[name] = systems[name].closed_loop(count, seconds)
                print(
                    f"round {round_ + 1}, {count:3} clients, {name:8}: {fmt_run(pair[name])}",
                    flush=True,
                )
            pair[ratio_key] = ratios(pair[first], pair[second])
            pairs.append(pair)
            saved(pairs)
    return pairs


def medians(pairs: list[dict], ratio_key: str) -> dict[int, dict[str, float]]:
    """Per client count, the median over rounds of each ratio."""
    by_clients: dict[int, list[dict[str, float]]] = {}
    for pair in pairs:
        by_clients.setdefault(pair["clients"], []).append(pair[ratio_key])
    return {
        clients: {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
        for clients, rounds in by_clients.items()
    }


def print_medians(title: str, figures: dict[int, dict[str, float]]) -> None:
    print_table(
        title,
        [
            (f"{clients} clients: {key}", f"{value:.3f}")
            for clients, ratios in figures.items()
            for key, value in ratios.items()
        ],
    )
