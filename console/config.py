"""The console's settings, read once from the environment at start-up (local defaults)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _env(name: str, default: str) -> str:
    return Field(default=default, validation_alias=AliasChoices(name, name.lower()))


class ConsoleSettings(BaseSettings):
    """`CONSOLE_*` for the console's own settings; the services' URLs are the variables
    `shopctl` and the demo read, so one environment serves all three."""

    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore")

    service_name: str = "console"
    port: int = 8004
    bind_host: str = _env("BIND_HOST", "127.0.0.1")
    log_level: str = _env("LOG_LEVEL", "INFO")
    admin_token: str = _env("ADMIN_TOKEN", "dev-admin-token")
    secret_key: str | None = None
    """Signs the session cookie. Unset, it is derived from the admin token: every gunicorn
    worker derives the same key, and changing the token logs everyone out."""
    session_cookie_secure: bool = False
    """Mark the session cookie Secure (behind HTTPS)."""
    session_hours: float = 12.0
    order_service_url: str = _env("ORDER_SERVICE_URL", "http://127.0.0.1:8000")
    inventory_service_url: str = _env("INVENTORY_SERVICE_URL", "http://127.0.0.1:8001")
    payment_service_url: str = _env("PAYMENT_SERVICE_URL", "http://127.0.0.1:8002")
    search_service_url: str = _env("SEARCH_SERVICE_URL", "http://127.0.0.1:8003")
    elasticsearch_url: str = _env("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    jaeger_query_url: str = _env("JAEGER_QUERY_URL", "http://127.0.0.1:16686")
    jaeger_ui_url: str | None = Field(
        default=None, validation_alias=AliasChoices("JAEGER_UI_URL", "jaeger_ui_url")
    )
    """Where a real Jaeger UI runs (e.g. the official image under Docker), for a second link
    beside the console's own waterfall; unset locally, where Jaeger has no UI assets."""
    metrics_url: str = _env("METRICS_URL", "http://127.0.0.1:8889/metrics")

    def session_secret(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        label = b"eventshop-console-session"
        return hmac.new(self.admin_token.encode(), label, hashlib.sha256).digest()


def load_settings(**overrides: Any) -> ConsoleSettings:
    return ConsoleSettings(**overrides)
