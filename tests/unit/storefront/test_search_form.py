"""The search form's query: prices typed in dollars become integer cents for the search
API, and what is not a price is refused with a sentence (the page answers 400)."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from storefront.pages.catalogue import BadQuery, SearchForm, cents_of


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("12", 1200), ("12.5", 1250), ("12.05", 1205), ("$ 7.99", 799), ("0", 0), ("  ", None)],
)
def test_a_price_in_dollars_is_integer_cents(typed, cents):
    assert cents_of(typed, "price") == cents


@pytest.mark.parametrize("typed", ["abc", "1.234", "-3", "1e3", "12.5.0"])
def test_what_is_not_a_price_is_refused_in_words(typed):
    with pytest.raises(BadQuery, match="amount in dollars"):
        cents_of(typed, "lowest price")


def test_the_form_becomes_the_search_apis_query():
    args = MultiDict(
        {
            "q": " kettel ",
            "category": "kitchen",
            "min_price": "10",
            "max_price": "50.5",
            "in_stock": "1",
            "sort": "price_desc",
            "page": "2",
        }
    )
    assert SearchForm.from_args(args).api_params(page_size=12) == {
        "q": "kettel",
        "category": "kitchen",
        "min_price_cents": 1000,
        "max_price_cents": 5050,
        "in_stock": "true",
        "sort": "price_desc",
        "page": 2,
        "page_size": 12,
    }


def test_unknown_sorts_and_bad_pages_fall_back_and_empty_filters_are_left_out():
    form = SearchForm.from_args(MultiDict({"sort": "cheapest", "page": "x"}))
    assert form.api_params(page_size=12) == {"sort": "relevance", "page": 1, "page_size": 12}


def test_a_price_range_upside_down_is_refused():
    form = SearchForm.from_args(MultiDict({"min_price": "50", "max_price": "10"}))
    with pytest.raises(BadQuery, match="above the highest"):
        form.api_params(page_size=12)


def test_facet_and_pager_links_keep_the_rest_of_the_search():
    form = SearchForm.from_args(MultiDict({"q": "tent", "in_stock": "1", "page": "3"}))
    assert form.link(category="outdoor", page=1) == {
        "q": "tent",
        "category": "outdoor",
        "in_stock": "1",
        "sort": "relevance",
        "page": 1,
    }
