"""The storefront's settings, read once from the environment at start-up (local defaults)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str, default: str) -> str:
    return Field(default=default, validation_alias=AliasChoices(name, name.lower()))


class StorefrontSettings(BaseSettings):
    """`STOREFRONT_*` for the storefront's own settings; the services' URLs are the variables
    the console and `shopctl` read, so one environment serves them all. Customer tokens are
    minted as `shopctl token customer` mints them (`CUSTOMER_TOKEN_*`)."""

    model_config = SettingsConfigDict(env_prefix="STOREFRONT_", extra="ignore")

    service_name: str = "storefront"
    port: int = 8005
    bind_host: str = _env("BIND_HOST", "127.0.0.1")
    log_level: str = _env("LOG_LEVEL", "INFO")
    secret_key: str | None = None
    """Signs the session cookie. Unset, it is derived from the customer-token signing key
    (secret, and the same for every gunicorn worker); set it wherever tokens come from an
    identity provider instead."""
    session_cookie_secure: bool = False
    session_hours: float = 12.0
    token_minutes: float = 60.0
    """How long a minted customer token lives; the storefront mints a new one when it expires."""
    api_timeout_s: float = 10.0
    order_service_url: str = _env("ORDER_SERVICE_URL", "http://127.0.0.1:8000")
    inventory_service_url: str = _env("INVENTORY_SERVICE_URL", "http://127.0.0.1:8001")
    payment_service_url: str = _env("PAYMENT_SERVICE_URL", "http://127.0.0.1:8002")
    search_service_url: str = _env("SEARCH_SERVICE_URL", "http://127.0.0.1:8003")
    page_size: int = 12

    def session_secret(self, signing_key: bytes | None) -> bytes:
        """The session key: `secret_key`, else one derived from the token signing key."""
        if self.secret_key:
            return self.secret_key.encode()
        if not signing_key:
            raise ValueError("set STOREFRONT_SECRET_KEY: there is no signing key to derive it from")
        return hmac.new(signing_key, b"eventshop-storefront-session", hashlib.sha256).digest()


def load_settings(**overrides: Any) -> StorefrontSettings:
    return StorefrontSettings(**overrides)
