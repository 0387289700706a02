"""The hand-written migration builds exactly the schema the code maps, stock rules included."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from inventory_service import orm
from servicekit.migrations import alembic_config, upgrade
from tests.integration.inventory_service.support import MIGRATIONS

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


def test_the_migrated_schema_matches_the_metadata(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, orm.metadata) == []


def test_the_migrated_schema_has_every_check_constraint_and_index(engine):
    inspector = sa.inspect(engine)
    for table in orm.metadata.sorted_tables:
        declared_checks = {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        migrated_checks = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert migrated_checks == declared_checks, table.name
        declared_indexes = {
            (index.name, tuple(column.name for column in index.columns)) for index in table.indexes
        }
        migrated_indexes = {
            (index["name"], tuple(index["column_names"]))
            for index in inspector.get_indexes(table.name)
            if "duplicates_constraint" not in index
        }
        assert migrated_indexes == declared_indexes, table.name


@pytest.mark.parametrize(
    ("on_hand", "reserved"),
    [(-1, 0), (1, -1), (1, 2)],
    ids=["on_hand<0", "reserved<0", "reserved>on_hand"],
)
def test_the_database_itself_refuses_impossible_stock(engine, on_hand, reserved):
    row = {
        "sku": "X-1",
        "name": "x",
        "description": "",
        "category": "c",
        "price_cents": 1,
        "stock_on_hand": on_hand,
        "stock_reserved": reserved,
        "version": 1,
    }
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(orm.products).values(**row))


def test_the_migration_downgrades_to_nothing_and_upgrades_again(scratch_engine):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(MIGRATIONS, url)
    command.downgrade(alembic_config(MIGRATIONS, url), "base")
    assert sa.inspect(scratch_engine).get_table_names() == ["alembic_version"]
    upgrade(MIGRATIONS, url)
    assert set(sa.inspect(scratch_engine).get_table_names()) == {
        "alembic_version",
        *orm.metadata.tables,
    }
