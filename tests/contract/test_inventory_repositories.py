"""The product and reservation repositories' and the inventory unit of work's contract,
written once and run on both adapters: PostgreSQL (`SqlInventoryUnitOfWork` on a scratch
database migrated by inventory's own migrations) and in memory
(`InMemoryInventoryUnitOfWork`, the fake the use-case tests run on)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from contracts import inventory as messages
from eventing.envelope import Envelope
from eventing.inbox import Inbox
from eventing.outbox import Outbox
from inventory_service import orm
from inventory_service.domain import Product, Reservation, ReservationStatus
from inventory_service.fakes import CONSUMER, InMemoryInventoryUnitOfWork
from inventory_service.uow import InventoryUnitOfWork, SqlInventoryUnitOfWork
from testkit.scratch import migrated_database, outbox_rows


@dataclass
class Adapter:
    """One adapter under test: how to open a unit of work, and what it committed to send."""

    new_uow: Callable[[], InventoryUnitOfWork]
    committed_outbox: Callable[[], list[Envelope]]


@pytest.fixture(scope="module")
def inventory_database() -> Iterator[Engine]:
    """Inventory's schema on a scratch database, migrated once per module."""
    with migrated_database("inventory_service") as engine:
        yield engine


def _in_memory(request: pytest.FixtureRequest) -> Adapter:
    uow = InMemoryInventoryUnitOfWork()
    return Adapter(lambda: uow, lambda: [e.envelope for e in uow.store.outbox])


def _postgresql(request: pytest.FixtureRequest) -> Adapter:
    engine: Engine = request.getfixturevalue("inventory_database")
    tables = ", ".join(table.name for table in orm.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY"))
    sessions = sessionmaker(engine, expire_on_commit=False)
    outbox, inbox = Outbox(orm.outbox), Inbox(orm.inbox, CONSUMER)

    def committed_outbox() -> list[Envelope]:
        return [row.envelope for row in outbox_rows(engine, orm.outbox)]

    return Adapter(lambda: SqlInventoryUnitOfWork(sessions, outbox, inbox), committed_outbox)


@pytest.fixture(
    params=[
        pytest.param(_in_memory, id="in_memory"),
        pytest.param(_postgresql, id="postgresql", marks=pytest.mark.integration),
    ]
)
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return request.param(request)


def a_product(sku: str = "MUG-1", **changes) -> Product:
    product = Product(
        sku=sku,
        name="Blue mug",
        description="A mug",
        category="kitchen",
        price_cents=1200,
        attributes={"colour": "blue", "sizes": [{"ml": 300}, {"ml": 450}]},
        on_hand=10,
    )
    return replace(product, **changes)


def kept(adapter: Adapter, *products: Product) -> None:
    with adapter.new_uow() as uow:
        for product in products:
            assert uow.products.add(product)
        uow.commit()


def product(adapter: Adapter, sku: str) -> Product | None:
    with adapter.new_uow() as uow:
        return uow.products.get(sku)


class TestProducts:
    def test_a_kept_product_is_read_back_as_it_was_kept(self, adapter):
        mug = a_product(on_hand=7, reserved=3, version=4)
        kept(adapter, mug)
        assert product(adapter, "MUG-1") == mug
        with adapter.new_uow() as uow:
            assert uow.products.get("MUG-1", lock=True) == mug
            assert uow.products.get("NONE-1") is None

    def test_a_sku_is_kept_once_even_after_its_product_is_deleted(self, adapter):
        mug = a_product()
        kept(adapter, mug)
        with adapter.new_uow() as uow:
            assert not uow.products.add(a_product(name="Another mug"))
            uow.products.save(mug.removed())
            uow.commit()
        with adapter.new_uow() as uow:
            assert not uow.products.add(a_product())
        assert product(adapter, "MUG-1") == mug.removed()

    def test_saving_records_the_whole_new_state(self, adapter):
        mug = a_product()
        kept(adapter, mug)
        changed = (
            mug.updated({"name": "Mug", "price_cents": 900, "attributes": {"colour": "red"}})
            .restocked(5)
            .reserved_for(4)
        )
        with adapter.new_uow() as uow:
            uow.products.save(changed)
            uow.commit()
        assert product(adapter, "MUG-1") == changed
        assert (changed.version, changed.on_hand, changed.reserved) == (4, 15, 4)

    def test_a_deleted_product_stays_deleted_when_a_stale_copy_is_saved(self, adapter):
        mug = a_product(reserved=2)
        kept(adapter, mug)
        with adapter.new_uow() as uow:
            uow.products.save(mug.removed())
            uow.commit()
        with adapter.new_uow() as uow:
            uow.products.save(mug.released(2))  # read before the delete
            uow.commit()
        assert product(adapter, "MUG-1") == replace(mug.released(2), deleted=True)

    def test_saving_a_product_never_kept_keeps_nothing(self, adapter):
        with adapter.new_uow() as uow:
            uow.products.save(a_product("GHOST-1"))
            uow.commit()
        assert product(adapter, "GHOST-1") is None

    def test_a_product_read_is_a_copy_changing_it_changes_nothing_kept(self, adapter):
        kept(adapter, a_product())
        with adapter.new_uow() as uow:
            read = uow.products.get("MUG-1")
            assert read is not None
            read.attributes["colour"] = "green"
            read.attributes["sizes"].append({"ml": 1000})
            uow.commit()
        assert product(adapter, "MUG-1") == a_product()

    def test_lock_many_answers_for_every_sku_asked(self, adapter):
        gone = a_product("GONE-1").removed()
        kept(adapter, a_product("A-1"), a_product("B-1"), a_product("GONE-1"))
        with adapter.new_uow() as uow:
            uow.products.save(gone)
            uow.commit()
        with adapter.new_uow() as uow:
            assert uow.products.lock_many(["B-1", "NONE-1", "GONE-1", "A-1"]) == {
                "A-1": a_product("A-1"),
                "B-1": a_product("B-1"),
                "GONE-1": gone,
                "NONE-1": None,
            }

    def test_a_page_lists_live_products_by_sku_of_a_category_with_the_total(self, adapter):
        kept(
            adapter,
            a_product("D-1"),
            a_product("B-1", category="garden"),
            a_product("A-1"),
            a_product("C-1"),
            a_product("E-1"),
        )
        with adapter.new_uow() as uow:
            uow.products.save(a_product("E-1").removed())
            uow.commit()
        with adapter.new_uow() as uow:
            first, total = uow.products.page(category=None, page=1, page_size=3)
            second, _ = uow.products.page(category=None, page=2, page_size=3)
            kitchen, in_kitchen = uow.products.page(category="kitchen", page=1, page_size=10)
            beyond, _ = uow.products.page(category=None, page=5, page_size=3)
            none, nothing = uow.products.page(category="toys", page=1, page_size=3)
        assert ([p.sku for p in first], [p.sku for p in second], total) == (
            ["A-1", "B-1", "C-1"],
            ["D-1"],
            4,
        )
        assert ([p.sku for p in kitchen], in_kitchen) == (["A-1", "C-1", "D-1"], 3)
        assert first[0] == a_product("A-1")
        assert (beyond, none, nothing) == ([], [], 0)


class TestReservations:
    def test_a_kept_reservation_is_read_back_as_it_was_kept(self, adapter):
        failed = Reservation(
            "o-1", ReservationStatus.FAILED, (("A-1", 2), ("B-1", 1)), "OUT_OF_STOCK", ("B-1",)
        )
        held = Reservation("o-2", ReservationStatus.RESERVED, (("A-1", 1),))
        with adapter.new_uow() as uow:
            uow.reservations.add(failed)
            uow.reservations.add(held)
            uow.commit()
        with adapter.new_uow() as uow:
            assert uow.reservations.get("o-1") == failed
            assert uow.reservations.get("o-2", lock=False) == held
            assert uow.reservations.get("o-3") is None

    def test_saving_records_the_new_state(self, adapter):
        held = Reservation("o-1", ReservationStatus.RESERVED, (("A-1", 2),))
        committed = replace(held, status=ReservationStatus.COMMITTED)
        with adapter.new_uow() as uow:
            uow.reservations.add(held)
            uow.commit()
        with adapter.new_uow() as uow:
            uow.reservations.save(committed)
            uow.reservations.save(Reservation("o-ghost", ReservationStatus.RELEASED))
            uow.commit()
        with adapter.new_uow() as uow:
            assert uow.reservations.get("o-1") == committed
            assert uow.reservations.get("o-ghost") is None


class TestUnitOfWork:
    def test_stock_its_reservation_and_the_replies_commit_together(self, adapter):
        mug = a_product()
        kept(adapter, mug)
        with adapter.new_uow() as uow:
            uow.products.save(mug.reserved_for(2))
            uow.reservations.add(Reservation("o-1", ReservationStatus.RESERVED, (("MUG-1", 2),)))
            uow.emit(
                messages.StockReserved(order_id="o-1", items=[{"sku": "MUG-1", "quantity": 2}])
            )
            assert adapter.committed_outbox() == []
            uow.commit()
        assert [e.type for e in adapter.committed_outbox()] == ["StockReserved"]
        with adapter.new_uow() as uow:
            assert uow.products.get("MUG-1") == mug.reserved_for(2)
            assert uow.reservations.get("o-1") is not None

    def test_a_unit_of_work_left_without_commit_leaves_no_trace(self, adapter):
        mug = a_product()
        kept(adapter, mug)
        with adapter.new_uow() as uow:
            uow.products.add(a_product("NEW-1"))
            uow.products.save(mug.reserved_for(2))
            uow.reservations.add(Reservation("o-1", ReservationStatus.RESERVED, (("MUG-1", 2),)))
            uow.emit(messages.StockReleased(order_id="o-1"))
        with adapter.new_uow() as uow:
            assert uow.products.get("NEW-1") is None
            assert uow.products.get("MUG-1") == mug
            assert uow.reservations.get("o-1") is None
        assert adapter.committed_outbox() == []
