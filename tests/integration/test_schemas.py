"""Every service's hand-written migrations build exactly the schema its code maps (types, check
constraints and indexes included), and go down to nothing and up again."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from eventing.migration_steps import OUTBOX_VACUUM
from servicekit import registry
from servicekit.migrations import alembic_config, upgrade

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
#: Every deployable that owns a database: its package -> the metadata its code maps.
SCHEMAS: dict[str, sa.MetaData] = {
    entry.package: import_module(f"{entry.package}.orm").metadata
    for entry in registry.with_database()
}


@pytest.fixture(params=sorted(SCHEMAS))
def service(request) -> str:
    return request.param


@pytest.fixture
def migrated(service, scratch_engine) -> tuple[sa.Engine, sa.MetaData, Path]:
    migrations = ROOT / service / "migrations"
    upgrade(migrations, scratch_engine.url.render_as_string(hide_password=False))
    return scratch_engine, SCHEMAS[service], migrations


def test_the_migrated_schema_matches_the_metadata(migrated):
    engine, metadata, _ = migrated
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_the_migrated_schema_has_every_check_constraint_and_index(migrated):
    engine, metadata, _ = migrated
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
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


def test_the_migrations_downgrade_to_nothing_and_upgrade_again(migrated):
    engine, metadata, migrations = migrated
    url = engine.url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(migrations, url), "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    upgrade(migrations, url)
    assert set(sa.inspect(engine).get_table_names()) == {"alembic_version", *metadata.tables}


def test_the_outbox_is_vacuumed_after_a_fixed_number_of_dead_rows(migrated):
    engine, _, _ = migrated
    with engine.connect() as connection:
        options = connection.execute(
            sa.text("SELECT reloptions FROM pg_class WHERE relname = 'outbox'")
        ).scalar_one()
    assert sorted(options) == sorted(OUTBOX_VACUUM.replace(" ", "").split(","))
