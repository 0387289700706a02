"""The orchestrator's settings (env prefix `SAGAS_`), read once at start-up."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from servicekit.settings import LOCAL_POSTGRES, ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SAGAS_", extra="ignore")

    service_name: str = "checkout-saga"
    database_url: str = Field(
        default=LOCAL_POSTGRES.format(database="orders"),
        validation_alias=AliasChoices("SAGAS_DATABASE_URL", "ORDER_DATABASE_URL", "database_url"),
    )
    """The order service's database, where the orders' sagas live: `ORDER_DATABASE_URL`,
    unless `SAGAS_DATABASE_URL` says otherwise."""
    reply_timeout_s: float = Field(10.0, gt=0)
    """How long each attempt of a step waits for its reply, from when its command was
    published, before it is resent or the step times out."""
    payment_timeout_s: float = Field(10.0, gt=0)
    """The same for each attempt of authorising the payment."""
    retry_base_delay_s: float = Field(1.0, ge=0)
    """The pause before the first resend of any command, doubled for each later one."""
    max_compensation_attempts: int = Field(8, ge=1)
    step_attempts: int = Field(3, ge=1)
    """Sends of a compensatable step's command (reserve, authorise) before it times out."""
    step_deadline_s: float = Field(120.0, gt=0)
    """How long a compensatable step may be outstanding in all, from its first publish."""
    unsent_alert_s: float = Field(300.0, gt=0)
    """A saga whose awaited command is still unpublished this long after it was written is
    reported (error log, `saga.commands_unsent`): never rejected for it."""


def load_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)
