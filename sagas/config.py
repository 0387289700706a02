"""The orchestrator's settings (env prefix `SAGAS_`), read once at start-up."""

from __future__ import annotations

from typing import Any

from pydantic_settings import SettingsConfigDict

from servicekit.settings import LOCAL_POSTGRES, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SAGAS_", extra="ignore")

    service_name: str = "checkout-saga"
    database_url: str = LOCAL_POSTGRES.format(database="sagas")
    reply_timeout_s: float = 10.0
    """How long a step waits for its reply before timing out (or resending, past the pivot)."""
    payment_timeout_s: float = 10.0
    retry_base_delay_s: float = 1.0
    max_compensation_attempts: int = 8


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
