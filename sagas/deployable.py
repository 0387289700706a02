"""The saga orchestrator as a deployable: `checkout-saga`, the order service's own orchestrator
(as FTGO's CreateOrderSaga lives in its order service), in the order service's database.

The order API starts each saga in the transaction that places its order (checkout) or asks to
cancel it (cancellation), so the first command is in the outbox with the order; the worker
consumes the reservations' and payments' replies. Its handler table still starts a saga from
its starter event, so `shopctl replay` of `orders.orders` through it starts any saga that is
missing (one already started is left as it is). Approving, rejecting and
cancelling the order are local steps (`LOCAL_STEPS`): applied in the transaction that applies
the saga's reply, with no command and reply over Kafka, and an order's saga is read by the
order API from the same rows the orchestrator writes. It has no API of its own; `shopctl
sagas` lists, shows and retries sagas. Its worker runs the consumer, the relay of the order
service's outbox (beside the order worker's: the relay's lanes keep each order's events in
order), the timeout loop and the inbox pruner; its gauge counts the sagas in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from opentelemetry.metrics import MeterProvider

from eventing import topics
from order_service import orm, services
from order_service.uow import SqlOrderUnitOfWork
from sagas.config import Settings, load_settings
from sagas.definitions import cancellation_saga, checkout_saga
from sagas.framework.metrics import register_in_flight_gauge
from sagas.framework.orchestrator import LocalStep, Orchestrator
from sagas.framework.ports import SagaUnitOfWork
from servicekit.deployable import Deployable, MessageTables, Runtime, Task
from servicekit.dispatch import UseCases

SagaRuntime = Runtime[SqlOrderUnitOfWork]

LOCAL_STEPS: Mapping[str, LocalStep] = {
    "approve_order": services.approve_order,
    "reject_order": services.reject_order,
    "complete_cancellation": services.complete_cancellation,
}
"""The steps the order service applies in the saga's own transaction, by step name."""


def build_orchestrator(
    settings: Settings,
    uow_factory: Callable[[], SqlOrderUnitOfWork],
    meter_provider: MeterProvider | None = None,
) -> Orchestrator:
    """The shop's orchestrator on the order service's units of work, with the `SAGAS_` settings:
    the worker's, and the order API's, which starts each saga in the transaction that places
    (or asks to cancel) its order."""
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
        uow_factory=uow_factory,
        local_steps=LOCAL_STEPS,
        unsent_alert_s=settings.unsent_alert_s,
        meter_provider=meter_provider,
    )


def _build_orchestrator(runtime: SagaRuntime) -> Orchestrator:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    return build_orchestrator(settings, runtime.uow_factory, runtime.meter_provider)


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


DEPLOYABLE: Deployable[SqlOrderUnitOfWork] = Deployable(
    name="checkout-saga",
    package="sagas",
    database_of="order_service",
    load_settings=load_settings,
    tables=MessageTables(outbox=orm.outbox, inbox=orm.inbox, holds=orm.holds),
    unit_of_work=SqlOrderUnitOfWork,
    topics=(topics.RESERVATIONS, topics.PAYMENTS),
    use_cases=_use_cases,
    tasks=_tasks,
    gauges=_gauges,
)
