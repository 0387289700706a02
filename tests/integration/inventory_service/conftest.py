"""Inventory built by its deployable on a scratch database, migrated by its own migrations, and
on the test module's namespaced topics. One database per module, emptied before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text

from inventory_service import orm
from inventory_service.config import Settings
from inventory_service.deployable import DEPLOYABLE
from inventory_service.uow import SqlInventoryUnitOfWork
from servicekit.deployable import Runtime
from servicekit.migrations import upgrade
from testkit.scratch import scratch_database
from tests.integration.inventory_service.support import MIGRATIONS


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_database() as engine:
        url = engine.url.render_as_string(hide_password=False)
        upgrade(MIGRATIONS, url)
        yield url


@pytest.fixture(scope="module")
def inventory(database_url, shop_topics) -> Iterator[Runtime[SqlInventoryUnitOfWork]]:
    app = DEPLOYABLE.runtime(
        Settings(database_url=database_url, admin_token="test-admin", db_pool_size=30),
        shop_topics,
    )
    yield app
    app.engine.dispose()


@pytest.fixture
def app(inventory) -> Runtime[SqlInventoryUnitOfWork]:
    tables = ", ".join(table.name for table in orm.metadata.sorted_tables)
    with inventory.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    return inventory


@pytest.fixture
def client(app):
    return app.flask_app().test_client()
