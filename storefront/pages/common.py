"""What the pages share: the settings, the shop's APIs as the signed-in customer, and
reading the query's simple values."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, session

from storefront.config import StorefrontSettings
from storefront.identity import TokenMinter, token
from storefront.shop_api import ShopApi


def settings() -> StorefrontSettings:
    return current_app.config["STOREFRONT_SETTINGS"]


def minter() -> TokenMinter:
    return TokenMinter(timedelta(minutes=settings().token_minutes))


def shop() -> ShopApi:
    """The shop's APIs, called with the signed-in customer's token (none when signed out)."""
    return ShopApi(settings(), token(session, minter()))


def page_number(text: str | None) -> int:
    """A page number from the query: a bad or missing one is the first page."""
    try:
        return max(1, min(int(text or "1"), 10_000))
    except ValueError:
        return 1
