"""Inventory's settings (env prefix `INVENTORY_`), read once at start-up."""

from __future__ import annotations

from typing import Any

from pydantic_settings import SettingsConfigDict

from servicekit.settings import LOCAL_POSTGRES, HttpServiceSettings


class Settings(HttpServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    service_name: str = "inventory-service"
    database_url: str = LOCAL_POSTGRES.format(database="inventory")
    port: int = 8001


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
