"""The storefront's display rules and its cart, with no server: money stays integer cents
until it is shown, a saga's log reads as one line per step, and the cart is a session's
sku -> quantity map whose order body is the same for the same cart."""

from __future__ import annotations

import pytest

from storefront.cart import MAX_QUANTITY, Cart, CartError, CartLine, parse_quantity, total_cents
from storefront.wording import money, rejection, saga_steps, steps_title


@pytest.mark.parametrize(
    ("cents", "shown"),
    [(0, "$0.00"), (5, "$0.05"), (1999, "$19.99"), (123456789, "$1,234,567.89"), (-250, "-$2.50")],
)
def test_money_is_cents_shown_as_dollars(cents, shown):
    assert money(cents) == shown


def test_every_rejection_reason_of_the_contract_reads_as_a_sentence():
    for reason in ("OUT_OF_STOCK", "PAYMENT_DECLINED", "INSUFFICIENT_FUNDS", "TIMEOUT"):
        assert rejection(reason).endswith("nothing was charged.")
    assert "no longer sold" in rejection("PRODUCT_UNAVAILABLE")
    assert rejection("SOMETHING_NEW") == "The order was rejected (SOMETHING_NEW)."


def test_a_saga_log_is_one_line_per_step_with_its_latest_status_in_the_order_steps_began():
    saga = {
        "state": "ABORTED",
        "steps": [
            {"name": "reserve_stock", "status": "STARTED", "at": "2026-01-01T10:00:00Z"},
            {"name": "reserve_stock", "status": "SUCCEEDED", "at": "2026-01-01T10:00:01Z"},
            {"name": "authorize_payment", "status": "STARTED", "at": "2026-01-01T10:00:02Z"},
            {"name": "authorize_payment", "status": "FAILED", "at": "2026-01-01T10:00:03Z"},
            {"name": "reserve_stock", "status": "COMPENSATED", "at": "2026-01-01T10:00:04Z"},
            {"name": "reserve_stock", "status": "REPLY_IGNORED", "at": "2026-01-01T10:00:05Z"},
            {"name": "reject_order", "status": "SUCCEEDED", "at": "2026-01-01T10:00:06Z"},
        ],
    }
    steps = saga_steps(saga)
    assert [(s.name, s.status) for s in steps] == [
        ("reserve_stock", "COMPENSATED"),
        ("authorize_payment", "FAILED"),
        ("reject_order", "SUCCEEDED"),
    ]
    assert [s.label for s in steps] == [
        "Reserve the items",
        "Authorize the payment",
        "Reject the order",
    ]
    assert steps[0].status_text == "undone" and steps[1].status_text == "failed"
    assert saga_steps(None) == []


def test_the_cart_adds_changes_and_removes_lines_in_the_session():
    session: dict = {}
    cart = Cart(session)
    cart.add("SKU-B", 2)
    cart.add("SKU-A", 1)
    cart.add("SKU-B", 1)
    assert session["cart"] == {"SKU-B": 3, "SKU-A": 1}
    cart.set("SKU-A", 4)
    cart.remove("SKU-B")
    assert Cart(session).quantities == {"SKU-A": 4} and cart.count() == 4
    cart.clear()
    assert cart.quantities == {}


def test_the_same_cart_is_always_the_same_order_body():
    first, second = Cart({}), Cart({})
    first.add("SKU-B", 1)
    first.add("SKU-A", 2)
    second.add("SKU-A", 2)
    second.add("SKU-B", 1)
    assert (
        first.order_items()
        == second.order_items()
        == [
            {"sku": "SKU-A", "quantity": 2},
            {"sku": "SKU-B", "quantity": 1},
        ]
    )


def test_a_quantity_is_a_whole_number_from_1_to_the_maximum_and_never_grows_past_it():
    assert parse_quantity(" 3 ") == 3
    for bad in ("", "0", "-1", "1.5", "many", str(MAX_QUANTITY + 1)):
        with pytest.raises(CartError):
            parse_quantity(bad)
    cart = Cart({})
    cart.add("SKU-A", MAX_QUANTITY)
    cart.add("SKU-A", 5)
    assert cart.quantities == {"SKU-A": MAX_QUANTITY}


def test_a_cart_change_names_a_product_of_the_shop():
    cart = Cart({})
    with pytest.raises(CartError):
        cart.add("../etc/passwd", 1)
    with pytest.raises(CartError):
        cart.set("SKU-NOT-IN-CART", 1)


def test_totals_are_integer_cents():
    lines = [CartLine("A", "a", 3, 1999, 10), CartLine("B", "b", 1, 1, 10)]
    assert total_cents(lines) == 5998 and isinstance(total_cents(lines), int)


def test_the_steps_are_named_after_the_saga_the_order_shows():
    checkout = saga_steps({"steps": [{"name": "reserve_stock", "status": "STARTED", "at": ""}]})
    cancellation = saga_steps(
        {"steps": [{"name": "refund_payment", "status": "STARTED", "at": ""}]}
    )
    assert steps_title(checkout) == "Checkout steps"
    assert steps_title(cancellation) == "Cancellation steps"
