"""Who the customer is: the storefront signs them in and keeps their customer token in the
session, sending it to the order and payment APIs on their behalf (the browser never calls
those APIs).

Locally a customer signs in by choosing a name, and the storefront mints a dev customer token
exactly as `shopctl token customer` does (the stack's dev key, or `CUSTOMER_TOKEN_*`). A real
storefront would get the token from its identity provider's sign-in instead; only
`TokenMinter` would change."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from datetime import timedelta
from functools import cache
from typing import Any

from servicekit.customer_tokens import CustomerTokenSettings, TokenSigner

MAX_NAME_LENGTH = 80
#: A token is renewed this long before it expires, so a request never carries a stale one.
RENEW_BEFORE_S = 60.0


class SignInError(ValueError):
    pass


@cache
def _signer() -> TokenSigner:
    return TokenSigner.from_settings(CustomerTokenSettings())


def signing_key_bytes() -> bytes | None:
    """The dev signing key's bytes (to derive the session key from), None when there is none."""
    try:
        return CustomerTokenSettings().signing_key_path().read_bytes()
    except OSError:
        return None


def customer_id_for(name: str) -> str:
    chosen = name.strip()
    if not chosen or len(chosen) > MAX_NAME_LENGTH or not chosen.isprintable():
        raise SignInError(f"choose a customer name of 1 to {MAX_NAME_LENGTH} printable characters")
    return chosen


class TokenMinter:
    """Mints a dev customer token, as `shopctl token customer` does."""

    def __init__(self, ttl: timedelta):
        self.ttl = ttl

    def token(self, customer_id: str) -> tuple[str, float]:
        """The token and when it expires (epoch seconds)."""
        return _signer().customer_token(
            customer_id, self.ttl
        ), time.time() + self.ttl.total_seconds()


def sign_in(session: MutableMapping[str, Any], customer_id: str, minter: TokenMinter) -> None:
    session.clear()  # a fresh session: nothing of whoever used the browser before
    session.permanent = True  # type: ignore[attr-defined]
    token, expires_at = minter.token(customer_id)
    session.update(customer=customer_id, token=token, token_expires_at=expires_at)


def customer(session: MutableMapping[str, Any]) -> str | None:
    found = session.get("customer")
    return found if isinstance(found, str) else None


def token(session: MutableMapping[str, Any], minter: TokenMinter) -> str | None:
    """The signed-in customer's token, renewed when it is about to expire."""
    who = customer(session)
    if who is None:
        return None
    if float(session.get("token_expires_at", 0)) - RENEW_BEFORE_S < time.time():
        fresh, expires_at = minter.token(who)
        session.update(token=fresh, token_expires_at=expires_at)
    return str(session["token"])
