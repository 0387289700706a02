"""Stock rules, without a database."""

import pytest

from inventory_service.domain import (
    InsufficientStock,
    Product,
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


def test_available_is_on_hand_minus_reserved_and_every_change_bumps_the_version():
    product = mug().reserved_for(2)
    assert (product.available, product.version) == (3, 2)
    assert product.committed(2).on_hand == 3
    assert product.released(2).available == 5


def test_stock_never_goes_below_zero():
    with pytest.raises(InsufficientStock):
        mug(on_hand=1).reserved_for(2)
    with pytest.raises(ValueError):
        mug(on_hand=1, reserved=2)


def test_repeated_skus_in_an_order_are_merged():
    assert merge_items([("B", 1), ("A", 2), ("B", 3)]) == (("A", 2), ("B", 4))


def test_a_reservation_is_all_or_nothing_unavailable_first_then_out_of_stock():
    products = {
        "MUG-1": mug(),
        "GONE": mug(sku="GONE", deleted=True),
        "LOW": mug(sku="LOW", on_hand=1),
    }
    assert (
        decide_reservation((("MUG-1", 1), ("GONE", 1), ("LOW", 5)), products).failure_reason
        == "PRODUCT_UNAVAILABLE"
    )
    short = decide_reservation((("MUG-1", 1), ("LOW", 5)), products)
    assert (short.failure_reason, short.failed_skus, short.products) == (
        "OUT_OF_STOCK",
        ("LOW",),
        (),
    )
    held = decide_reservation((("MUG-1", 5),), products)
    assert [p.available for p in held.products] == [0]


def test_an_update_changes_only_details():
    with pytest.raises(ValueError):
        mug().updated({"on_hand": 100})
    with pytest.raises(ValueError):
        mug().updated({})
