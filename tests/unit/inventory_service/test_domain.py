"""Stock rules, without a database."""

import pytest

from inventory_service.domain import (
    MAX_UNITS,
    InsufficientStock,
    Product,
    StockLimitExceeded,
    decide_reservation,
    merge_items,
)


def mug(**overrides) -> Product:
    return Product(
        **(
            {
                "sku": "MUG-1",
                "name": "Mug",
                "description": "",
                "category": "k",
                "price_cents": 100,
                "on_hand": 5,
            }
            | overrides
        )
    )


def test_a_new_product_is_version_1_with_nothing_reserved():
    product = mug()
    assert (product.version, product.reserved, product.available, product.deleted) == (
        1,
        0,
        5,
        False,
    )


def test_available_is_on_hand_minus_reserved():
    assert mug(on_hand=7, reserved=3).available == 4


def test_every_change_bumps_the_version_by_one():
    product = mug()
    changes = [
        lambda p: p.updated({"name": "Big mug"}),
        lambda p: p.restocked(1),
        lambda p: p.reserved_for(2),
        lambda p: p.released(1),
        lambda p: p.committed(1),
        lambda p: p.returned(1),
        lambda p: p.removed(),
    ]
    for number, change in enumerate(changes, start=2):
        product = change(product)
        assert product.version == number


def test_reserving_releasing_committing_and_returning_move_stock():
    reserved = mug().reserved_for(2)
    assert (reserved.on_hand, reserved.reserved, reserved.available) == (5, 2, 3)
    assert (reserved.released(2).on_hand, reserved.released(2).reserved) == (5, 0)
    committed = reserved.committed(2)
    assert (committed.on_hand, committed.reserved) == (3, 0)
    assert committed.returned(2).on_hand == 5


def test_stock_never_goes_below_zero():
    with pytest.raises(InsufficientStock):
        mug(on_hand=1).reserved_for(2)
    with pytest.raises(ValueError):
        mug(on_hand=1, reserved=2)
    with pytest.raises(ValueError):
        mug(on_hand=-1)
    with pytest.raises(ValueError):
        mug().released(1)
    with pytest.raises(ValueError):
        mug(price_cents=-1)


def test_restock_adds_at_least_one_unit_and_never_more_than_can_be_counted():
    assert mug().restocked(3).on_hand == 8
    with pytest.raises(ValueError):
        mug().restocked(0)
    with pytest.raises(StockLimitExceeded):
        mug(on_hand=MAX_UNITS).restocked(1)
    assert mug(on_hand=MAX_UNITS - 1).restocked(1).on_hand == MAX_UNITS


def test_an_update_changes_only_details():
    updated = mug().updated({"price_cents": 250, "attributes": {"size": "L"}})
    assert (updated.price_cents, updated.attributes, updated.on_hand) == (250, {"size": "L"}, 5)
    with pytest.raises(ValueError):
        mug().updated({"on_hand": 100})
    with pytest.raises(ValueError):
        mug().updated({})


def test_removing_marks_the_product_deleted():
    assert mug().removed().deleted


def test_repeated_skus_in_an_order_are_merged_and_sorted():
    assert merge_items([("B", 1), ("A", 2), ("B", 3)]) == (("A", 2), ("B", 4))


PRODUCTS = {
    "MUG-1": mug(),
    "GONE": mug(sku="GONE", deleted=True),
    "LOW": mug(sku="LOW", on_hand=1),
    "HELD": mug(sku="HELD", on_hand=5, reserved=4),
    "UNKNOWN": None,
}


class TestDecideReservation:
    def test_every_item_available_holds_every_item(self):
        held = decide_reservation((("HELD", 1), ("MUG-1", 5)), PRODUCTS)
        assert held.failure_reason is None
        assert [(p.sku, p.reserved, p.available) for p in held.products] == [
            ("HELD", 5, 0),
            ("MUG-1", 5, 0),
        ]

    def test_unknown_or_deleted_products_make_the_order_unavailable_before_shortness(self):
        decision = decide_reservation(
            (("GONE", 1), ("LOW", 5), ("MUG-1", 1), ("UNKNOWN", 1)), PRODUCTS
        )
        assert (decision.failure_reason, decision.failed_skus, decision.products) == (
            "PRODUCT_UNAVAILABLE",
            ("GONE", "UNKNOWN"),
            (),
        )

    def test_any_short_sku_makes_the_whole_order_out_of_stock(self):
        decision = decide_reservation((("HELD", 2), ("LOW", 5), ("MUG-1", 1)), PRODUCTS)
        assert (decision.failure_reason, decision.failed_skus, decision.products) == (
            "OUT_OF_STOCK",
            ("HELD", "LOW"),
            (),
        )

    def test_reserved_units_are_not_available_to_others(self):
        assert decide_reservation((("HELD", 2),), PRODUCTS).failure_reason == "OUT_OF_STOCK"
