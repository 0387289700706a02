"""Payment's settings (env prefix `PAYMENT_`), read once at start-up."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic_settings import SettingsConfigDict

from servicekit.settings import LOCAL_POSTGRES, HttpServiceSettings


class Settings(HttpServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")
    verifies_customer_tokens: ClassVar[bool] = True

    service_name: str = "payment-service"
    database_url: str = LOCAL_POSTGRES.format(database="payments")
    port: int = 8002


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
