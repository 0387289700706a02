"""`shopctl wait` decides which consumer groups are still awaited (pure logic; the real wait is
in tests/integration/test_shopctl_wait.py)."""

from __future__ import annotations

from shopctl.readiness import GroupsNotReady, describe, not_ready


def test_a_stable_group_is_ready_and_any_other_state_is_awaited():
    states = {"orders": "STABLE", "payments": "PREPARING_REBALANCE", "stock": "EMPTY"}

    assert not_ready(states, ["orders", "payments", "stock"]) == {
        "payments": "preparing_rebalance",
        "stock": "empty",
    }


def test_a_group_the_broker_does_not_know_has_not_joined():
    assert not_ready({}, ["checkout-saga"]) == {"checkout-saga": "not joined"}


def test_groups_not_asked_for_are_ignored():
    assert not_ready({"other": "EMPTY"}, ["orders"]) == {"orders": "not joined"}


def test_the_failure_names_every_awaited_group_and_its_state_in_one_line():
    error = GroupsNotReady({"b": "empty", "a": "not joined"}, timeout_s=5)

    assert str(error) == "after 5s still waiting for group a (not joined), group b (empty)"
    assert describe({}) == ""
