"""The fault drill of bench.drill, smaller: a shop on a private stack (servers of its own, so
they can be killed) under a steady load of checkouts, while Kafka, PostgreSQL or Elasticsearch
is killed with kill -9 and started again after an outage, or a worker or the saga orchestrator
is killed and started again at once. Whatever was killed, every order ends, the contract's
invariants hold, search catches up, and nearly every order that would have been approved
without the fault is approved.

The bound on approvals is 0.9 of the no-fault run, not the issue's goal of 0.95: a run here has
45 to 115 `tok_visa` orders, and on a loaded 2-core machine a few caught at the edge of an
outage may still time out once sagas count their deadlines from when a command was published
and retry a step before compensating, and the clients reconnect (issue 15). On the code before
those fixes this file passed once (every fault 1.00, the machine quiet) and failed once on a
loaded machine (the payment worker: 40 of 45, 0.89); the full-size drill (bench.drill, 30 s
outages) shows the problem plainly, see bench/README.md.
"""

from __future__ import annotations

import pytest

from bench.drill import FAULTS, Drill, DrillPlan, drill_shop, table_row, with_relative_approvals

pytestmark = pytest.mark.e2e

#: 2 checkouts/s, a fault 8 s in, a 15 s outage, 20 s of load after the restart.
PLAN = DrillPlan(rate_per_s=2.0, fault_at_s=8.0, outage_s=15.0, after_restart_s=20.0)
APPROVED_VS_NO_FAULT = 0.9


@pytest.fixture(scope="module")
def drill():
    with drill_shop() as drill:
        yield drill


def run(drill: Drill, fault: str, no_fault: dict | None = None) -> dict:
    """One run of the drill, its figures (against the no-fault run's) printed for the report."""
    result = drill.run(FAULTS[fault], PLAN)
    with_relative_approvals([no_fault or result, result])
    print(*table_row(result))
    return result


@pytest.fixture(scope="module")
def no_fault(drill: Drill) -> dict:
    return run(drill, "none")


def assert_consistent(run: dict) -> None:
    """Every order ended as the contract says it may, and search caught up."""
    assert run["not_accepted"] == 0, run["outcomes"]
    assert run["invariants"]["not_ended"] == 0, run["invariants"]
    assert run["invariants"]["violations"] == 0, run["invariants"]["examples"]
    assert run["search"]["caught_up"], run["search"]
    assert run["processes_exited"] == [], run["processes_exited"]


def test_with_no_fault_every_checkout_ends_as_its_kind(no_fault):
    assert_consistent(no_fault)
    assert no_fault["wrong_outcomes"] == 0, no_fault["outcomes"]
    assert no_fault["approved_fraction"] == 1.0, no_fault["outcomes"]


@pytest.mark.parametrize(
    "fault", ["kafka", "postgres", "payment-worker", "orchestrator", "elasticsearch"]
)
def test_a_fault_that_heals_keeps_every_invariant_and_nearly_every_approval(drill, no_fault, fault):
    faulted = run(drill, fault, no_fault)

    assert_consistent(faulted)
    relative = faulted["approved_vs_no_fault"]
    assert relative >= APPROVED_VS_NO_FAULT, (
        f"{faulted['tok_visa_approved']} of {faulted['tok_visa']} tok_visa orders approved "
        f"({relative:.2f} of the no-fault run): {faulted['outcomes']['approved']}"
    )
