"""Order's settings (env prefix `ORDER_`), read once at start-up."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import LOCAL_POSTGRES, HttpServiceSettings


class Settings(HttpServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDER_", extra="ignore")
    verifies_customer_tokens: ClassVar[bool] = True

    service_name: str = "order-service"
    database_url: str = LOCAL_POSTGRES.format(database="orders")
    port: int = 8000
    rate_limit_orders: int = Field(default=60, ge=1)
    """`POST /orders` a customer may send per window (`ORDER_RATE_LIMIT_ORDERS`); beyond it a
    429 with Retry-After. Generous for a person, a brake on a script."""
    rate_limit_window_s: int = Field(default=60, ge=1)
    """The window's length in seconds (`ORDER_RATE_LIMIT_WINDOW_S`)."""


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
