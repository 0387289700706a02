"""The local stack's PostgreSQL is real and holds one database per service."""

from __future__ import annotations

import psycopg2
import pytest
import sqlalchemy as sa

from testkit.scratch import SERVICE_DATABASES, postgres_url, sqlalchemy_url

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database", SERVICE_DATABASES)
def test_psycopg2_connects_to_each_service_database(database):
    with psycopg2.connect(postgres_url(database)) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_user")
        assert cursor.fetchone() == (database, "eventshop")
    connection.close()


@pytest.mark.parametrize("database", SERVICE_DATABASES)
def test_sqlalchemy_commits_and_rolls_back_in_each_service_database(database, unique_name):
    engine = sa.create_engine(sqlalchemy_url(database))
    table = f"{unique_name}_smoke"
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f"CREATE TABLE {table} (id int primary key)"))
            connection.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(sa.text(f"INSERT INTO {table} VALUES (2)"))
            transaction.rollback()
        with engine.connect() as connection:
            rows = connection.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()
        assert rows == [1]
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def test_the_app_role_may_end_an_autovacuum_worker_in_a_throwaway_database():
    """Dropping a test database WITH (FORCE) ends every session in it, autovacuum's included;
    those belong to no role, so only pg_signal_backend lets the app role end them."""
    connection = psycopg2.connect(postgres_url("postgres"))
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_has_role(current_user, 'pg_signal_backend', 'MEMBER')")
            assert cursor.fetchone() == (True,)
    finally:
        connection.close()
