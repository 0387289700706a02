"""Inventory as a deployable: it answers the sagas' stock commands and serves the product API
(whose writes announce the products on `inventory.products`)."""

from __future__ import annotations

from contracts import inventory as commands
from eventing import topics
from inventory_service import orm, services
from inventory_service.api import build_api
from inventory_service.config import load_settings
from inventory_service.uow import InventoryUnitOfWork, SqlInventoryUnitOfWork
from servicekit.api import Api
from servicekit.deployable import Deployable, MessageTables, Runtime
from servicekit.dispatch import UseCases

USE_CASES: UseCases[InventoryUnitOfWork] = {
    commands.ReserveStock: services.reserve,
    commands.ReleaseStock: services.release,
    commands.CommitStock: services.commit,
    commands.ReturnStock: services.return_stock,
}
"""Each command the sagas send and the use case that applies it."""


def _api(runtime: Runtime[SqlInventoryUnitOfWork]) -> Api:
    return build_api(runtime.uow_factory, lambda: runtime.settings.admin_token)


DEPLOYABLE: Deployable[SqlInventoryUnitOfWork] = Deployable(
    name="inventory-service",
    package="inventory_service",
    load_settings=load_settings,
    tables=MessageTables(outbox=orm.outbox, inbox=orm.inbox, holds=orm.holds),
    unit_of_work=SqlInventoryUnitOfWork,
    topics=(topics.INVENTORY_COMMANDS,),
    use_cases=lambda runtime: USE_CASES,
    api=_api,
)
