"""Browsing: the search page (typo-tolerant text, category facets, price range, in stock,
sorting, paging) and a product's page."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, request
from werkzeug.datastructures import MultiDict

from storefront.pages.common import page_number, settings, shop
from storefront.rendering import render
from storefront.shop_api import ApiProblem

blueprint = Blueprint("catalogue", __name__)

SORTS = {
    "relevance": "Best match",
    "price_asc": "Price, low to high",
    "price_desc": "Price, high to low",
}
PRICE = re.compile(r"^\s*\$?\s*(\d{1,7})(?:[.,](\d{1,2}))?\s*$")


class BadQuery(ValueError):
    pass


def cents_of(text: str, what: str) -> int | None:
    """A price typed in dollars ("12", "12.5", "$12.50") as integer cents; blank is None."""
    if not text.strip():
        return None
    match = PRICE.match(text)
    if not match:
        raise BadQuery(f"the {what} must be an amount in dollars, like 12 or 12.50")
    dollars, fraction = match.groups()
    return int(dollars) * 100 + int((fraction or "0").ljust(2, "0"))


@dataclass(frozen=True)
class SearchForm:
    q: str
    category: str
    min_price: str
    max_price: str
    in_stock: bool
    sort: str
    page: int

    @classmethod
    def from_args(cls, args: MultiDict[str, str]) -> SearchForm:
        return cls(
            q=args.get("q", "")[:200],
            category=args.get("category", "")[:100],
            min_price=args.get("min_price", "")[:20],
            max_price=args.get("max_price", "")[:20],
            in_stock=args.get("in_stock") == "1",
            sort=args.get("sort", "relevance") if args.get("sort") in SORTS else "relevance",
            page=page_number(args.get("page")),
        )

    def api_params(self, page_size: int) -> dict[str, Any]:
        """The search API's query for this form; BadQuery for a price that is not one."""
        low = cents_of(self.min_price, "lowest price")
        high = cents_of(self.max_price, "highest price")
        if low is not None and high is not None and low > high:
            raise BadQuery("the lowest price is above the highest price")
        params: dict[str, Any] = {"sort": self.sort, "page": self.page, "page_size": page_size}
        optional = {
            "q": self.q.strip(),
            "category": self.category,
            "min_price_cents": low,
            "max_price_cents": high,
            "in_stock": "true" if self.in_stock else None,
        }
        params.update({key: value for key, value in optional.items() if value not in (None, "")})
        return params

    def link(self, **changes: Any) -> dict[str, Any]:
        """The query string of this search with `changes` (for facet and pager links)."""
        values: dict[str, Any] = {
            "q": self.q,
            "category": self.category,
            "min_price": self.min_price,
            "max_price": self.max_price,
            "in_stock": "1" if self.in_stock else "",
            "sort": self.sort,
            "page": self.page,
        }
        values.update(changes)
        return {key: value for key, value in values.items() if value not in ("", None)}


@blueprint.get("/")
def search() -> str | tuple[str, int]:
    form = SearchForm.from_args(request.args)
    page_size = settings().page_size
    try:
        found = shop().search(form.api_params(page_size))
    except BadQuery as error:
        return render("search.html", form=form, sorts=SORTS, found=None, error=str(error)), 400
    except ApiProblem as problem:
        return render("search.html", form=form, sorts=SORTS, found=None, error=problem.message), 400
    pages = max(1, math.ceil(int(found.get("total", 0)) / page_size))
    return render("search.html", form=form, sorts=SORTS, found=found, pages=pages, error=None)


@blueprint.get("/products/<sku>")
def product(sku: str) -> str:
    if len(sku) > 64:
        abort(404, description="There is no such product.")
    try:
        found = shop().product(sku)
    except ApiProblem as problem:
        if problem.status == 404:
            abort(404, description="There is no such product: it may no longer be sold.")
        raise
    return render("product.html", product=found)
