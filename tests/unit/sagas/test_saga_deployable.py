"""The orchestrator as a deployable (no server): what it declares, the dispatcher's table its
runtime builds (the order's own steps are local: no reply of theirs is awaited from a topic),
and its command line, which offers no `api`."""

from __future__ import annotations

import pytest

import order_service.deployable
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


def test_the_orchestrator_is_the_checkout_saga_consuming_the_participants_replies():
    assert DEPLOYABLE.name == DEPLOYABLE.consumer_group == "checkout-saga"
    assert DEPLOYABLE.topics == (topics.RESERVATIONS, topics.PAYMENTS), "sagas start in the API"
    assert DEPLOYABLE.commands == ("migrate", "worker")


def test_it_works_in_the_order_services_database_with_its_tables():
    assert DEPLOYABLE.database_of == DEPLOYABLE.schema_package == "order_service"
    assert DEPLOYABLE.tables == order_service.deployable.DEPLOYABLE.tables
    assert DEPLOYABLE.unit_of_work is order_service.deployable.DEPLOYABLE.unit_of_work
    assert DEPLOYABLE.relays_outbox, "the shared outbox's one relay is the orchestrator's"
    assert not order_service.deployable.DEPLOYABLE.relays_outbox


def test_its_starters_start_sagas_and_its_replies_advance_them_on_one_orchestrator(runtime):
    saga_orchestrator = orchestrator(runtime)
    table = runtime.dispatcher.use_cases

    assert orchestrator(runtime) is saga_orchestrator, "use cases, tasks and gauge share one"
    assert table[orders.OrderCreated] == saga_orchestrator.start
    assert table[orders.OrderCancellationRequested] == saga_orchestrator.start
    for reply in (inventory.StockReserved, payment.PaymentDeclined, inventory.StockReturned):
        assert table[reply] == saga_orchestrator.advance
    for local in (orders.OrderApproved, orders.OrderRejected, orders.OrderCancelled):
        assert local not in table, "a local step's reply never comes from a topic"
    assert orders.ApproveOrder not in table, "a command is never consumed"
    assert list(DEPLOYABLE.tasks(runtime)) == ["timeouts"]


def test_python_m_sagas_api_is_a_usage_error_naming_what_it_offers(capsys):
    with pytest.raises(SystemExit) as exited:
        run(DEPLOYABLE, ["api"])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "usage: sagas" in error and "invalid choice: 'api'" in error
    assert "migrate" in error and "worker" in error
