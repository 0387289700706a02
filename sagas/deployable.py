"""The saga orchestrator as a deployable: `checkout-saga`, consuming the orders', reservations'
and payments' topics, with no API of its own (the order service shows each saga; `shopctl
sagas` lists, shows and retries them). Its worker runs the consumer, the relay, the timeout
loop and the inbox pruner; its gauge counts the sagas in flight."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from eventing import topics
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from sagas import orm
from sagas.config import Settings, load_settings
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.framework.metrics import register_in_flight_gauge
from sagas.framework.orchestrator import Orchestrator
from sagas.framework.ports import SagaUnitOfWork
from sagas.framework.store import SqlSagaUnitOfWork
from sagas.progress import saga_progressed
from servicekit.deployable import Deployable, MessageTables, Runtime, Task
from servicekit.dispatch import UseCases

SagaRuntime = Runtime[SqlSagaUnitOfWork]


def unit_of_work(
    sessions: sessionmaker[Session], outbox: Outbox, inbox: Inbox
) -> SqlSagaUnitOfWork:
    return SqlSagaUnitOfWork(sessions, outbox, inbox, tables=orm.tables)


def _build_orchestrator(runtime: SagaRuntime) -> Orchestrator:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    return Orchestrator(
        [
            checkout_saga(
                reply_timeout_s=settings.reply_timeout_s,
                payment_timeout_s=settings.payment_timeout_s,
                retry_base_delay_s=settings.retry_base_delay_s,
                max_compensation_attempts=settings.max_compensation_attempts,
                step_attempts=settings.step_attempts,
                step_deadline_s=settings.step_deadline_s,
            ),
            cancellation_saga(
                reply_timeout_s=settings.reply_timeout_s,
                retry_base_delay_s=settings.retry_base_delay_s,
            ),
        ],
        uow_factory=runtime.uow_factory,
        progress_event=saga_progressed,
        unsent_alert_s=settings.unsent_alert_s,
        meter_provider=runtime.meter_provider,
    )


def orchestrator(runtime: SagaRuntime) -> Orchestrator:
    """The runtime's one orchestrator: its consumer's use cases, its timeout loop, its gauge
    and an operator's retry share it."""
    return runtime.shared(_build_orchestrator)


def _use_cases(runtime: SagaRuntime) -> UseCases[SagaUnitOfWork]:
    return orchestrator(runtime).use_cases()


def _tasks(runtime: SagaRuntime) -> Mapping[str, Task]:
    return {"timeouts": orchestrator(runtime).run_timeouts}


def _gauges(runtime: SagaRuntime) -> None:
    register_in_flight_gauge(runtime.engine, orm.saga_instances, orchestrator(runtime).engines)


DEPLOYABLE: Deployable[SqlSagaUnitOfWork] = Deployable(
    name="checkout-saga",
    package="sagas",
    load_settings=load_settings,
    tables=MessageTables(outbox=orm.outbox, inbox=orm.inbox, holds=orm.holds),
    unit_of_work=unit_of_work,
    topics=(topics.ORDERS, topics.RESERVATIONS, topics.PAYMENTS),
    use_cases=_use_cases,
    tasks=_tasks,
    gauges=_gauges,
)
