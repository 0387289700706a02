"""The database itself keeps the stock rules, whatever the code does (the schema as a whole is
checked for every service in tests/integration/test_schemas.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from inventory_service import orm

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(database_url):
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


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
