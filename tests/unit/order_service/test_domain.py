"""The order lifecycle and pricing, without a database."""

import pytest

from order_service.domain import (
    CatalogueEntry,
    InvalidTransition,
    LineItem,
    Order,
    OrderStatus,
    UnknownProducts,
    fingerprint,
    price_items,
)


def pending() -> Order:
    return Order("o-1", "c-1", "tok_visa", (LineItem("A", 2, 150), LineItem("B", 1, 99)))


def test_the_total_is_integer_cents_summed_over_the_lines():
    assert pending().total_cents == 399


def test_a_pending_order_is_approved_or_rejected_once_and_repeats_are_no_ops():
    approved = pending().approved()
    assert approved.approved() == approved
    rejected = pending().rejected("TIMEOUT")
    assert (rejected.status, rejected.rejection_reason) == (OrderStatus.REJECTED, "TIMEOUT")
    with pytest.raises(InvalidTransition):
        rejected.approved()
    with pytest.raises(ValueError):
        pending().rejected("BECAUSE")


def test_only_an_approved_order_whose_cancellation_was_asked_becomes_cancelled():
    with pytest.raises(InvalidTransition):
        pending().cancellation_asked()
    with pytest.raises(InvalidTransition):
        pending().approved().cancelled()
    cancelled = pending().approved().cancellation_asked().cancelled()
    assert cancelled.status is OrderStatus.CANCELLED


def test_items_are_priced_from_the_catalogue_and_unknown_or_deleted_skus_are_named():
    catalogue = {
        "A": CatalogueEntry("A", "a", 150, 1),
        "D": CatalogueEntry("D", "d", 10, 2, deleted=True),
    }
    assert price_items([("A", 3)], catalogue) == (LineItem("A", 3, 150),)
    with pytest.raises(UnknownProducts) as refused:
        price_items([("A", 1), ("D", 1), ("X", 1)], catalogue)
    assert (refused.value.positions, refused.value.skus) == ([1, 2], ["D", "X"])


def test_the_fingerprint_ignores_key_order():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
