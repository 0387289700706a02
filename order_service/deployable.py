"""The order service as a deployable: its API (checkout, with its rate limit and customer
tokens) and its worker, which keeps the catalogue from inventory's product events through the
use cases `USE_CASES` names for their types. The orders' sagas run in the same database: the
API starts each in the transaction that places (or asks to cancel) its order, and the
orchestrator's own process (`sagas.deployable`) carries them on, approving, rejecting and
cancelling orders as local steps.

The worker still applies the order commands of the retired `orders.commands` topic, with the
same use cases: what an orchestrator of the former shape sent before an upgrade is applied, not
stranded, and an operator can redrive such a dead letter."""

from __future__ import annotations

from typing import cast

from contracts import inventory, orders
from eventing import topics
from order_service import orm, services
from order_service.api import OrderRateLimit, build_api
from order_service.config import Settings, load_settings
from order_service.uow import OrderUnitOfWork, SqlOrderUnitOfWork
from sagas import config as saga_config
from sagas.deployable import build_orchestrator
from servicekit.api import Api
from servicekit.deployable import Deployable, MessageTables, Runtime
from servicekit.dispatch import UseCases

USE_CASES: UseCases[OrderUnitOfWork] = {
    inventory.ProductCreated: services.apply_product,
    inventory.ProductUpdated: services.apply_product,
    inventory.StockChanged: services.apply_product,
    inventory.ProductDeleted: services.apply_product_deleted,
    orders.ApproveOrder: services.approve_order,
    orders.RejectOrder: services.reject_order,
    orders.RejectOrderV2: services.reject_order,  # read beside v1: see upcast_reject_order
    orders.CompleteCancellation: services.complete_cancellation,
}


def _api(runtime: Runtime[SqlOrderUnitOfWork]) -> Api:
    settings = cast(Settings, runtime.settings)
    sagas = build_orchestrator(
        saga_config.load_settings(), runtime.uow_factory, runtime.meter_provider
    )
    return build_api(
        runtime.uow_factory,
        lambda: settings.admin_token,
        runtime.customer_token_verifier(),
        OrderRateLimit(settings.rate_limit_orders, settings.rate_limit_window_s),
        sagas.start,
    )


DEPLOYABLE: Deployable[SqlOrderUnitOfWork] = Deployable(
    name="order-service",
    package="order_service",
    load_settings=load_settings,
    tables=MessageTables(outbox=orm.outbox, inbox=orm.inbox, holds=orm.holds),
    unit_of_work=SqlOrderUnitOfWork,
    topics=(topics.PRODUCTS, topics.ORDER_COMMANDS),
    # The orchestrator's worker relays the outbox the two share: it writes most of its rows,
    # and checkouts need it running anyway.
    relays_outbox=False,
    use_cases=lambda runtime: USE_CASES,
    api=_api,
)
