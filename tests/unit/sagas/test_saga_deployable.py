"""The orchestrator as a deployable (no server): what it declares, the dispatcher's table its
runtime builds, and its command line, which offers no `api`."""

from __future__ import annotations

import pytest

from contracts import inventory, orders, payment
from eventing import topics
from sagas.config import Settings
from sagas.deployable import DEPLOYABLE, orchestrator
from servicekit.cli import run


@pytest.fixture
def runtime():
    runtime = DEPLOYABLE.runtime(Settings())
    yield runtime
    runtime.engine.dispose()


def test_the_orchestrator_is_the_checkout_saga_consuming_orders_reservations_and_payments():
    assert DEPLOYABLE.name == DEPLOYABLE.consumer_group == "checkout-saga"
    assert DEPLOYABLE.topics == (topics.ORDERS, topics.RESERVATIONS, topics.PAYMENTS)
    assert DEPLOYABLE.commands == ("migrate", "worker")


def test_its_starters_start_sagas_and_its_replies_advance_them_on_one_orchestrator(runtime):
    saga_orchestrator = orchestrator(runtime)
    table = runtime.dispatcher.use_cases

    assert orchestrator(runtime) is saga_orchestrator, "use cases, tasks and gauge share one"
    assert table[orders.OrderCreated] == saga_orchestrator.start
    assert table[orders.OrderCancellationRequested] == saga_orchestrator.start
    for reply in (inventory.StockReserved, payment.PaymentDeclined, orders.OrderCancelled):
        assert table[reply] == saga_orchestrator.advance
    assert orders.ApproveOrder not in table, "a command is the services' to apply"
    assert list(DEPLOYABLE.tasks(runtime)) == ["timeouts"]


def test_python_m_sagas_api_is_a_usage_error_naming_what_it_offers(capsys):
    with pytest.raises(SystemExit) as exited:
        run(DEPLOYABLE, ["api"])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "usage: sagas" in error and "invalid choice: 'api'" in error
    assert "migrate" in error and "worker" in error
