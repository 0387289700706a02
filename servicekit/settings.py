"""Settings a service process reads from its environment, once, at start-up."""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventing.config import KafkaSettings
from servicekit.customer_tokens import CustomerTokenSettings

LOCAL_POSTGRES = "postgresql+psycopg2://eventshop:eventshop@127.0.0.1:5432/{database}"
DEV_ADMIN_TOKEN = "dev-admin-token"
PRODUCTION = "production"


def admin_token_refusal(environment: str, admin_token: str) -> str | None:
    """Why a process holding the admin token must not start: in production, the default one
    (anyone with the repository has it)."""
    if environment == PRODUCTION and admin_token == DEV_ADMIN_TOKEN:
        return "EVENTSHOP_ENV=production refuses the default admin token; set ADMIN_TOKEN"
    return None


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses it with its own `env_prefix` and defaults, e.g.
    `INVENTORY_DATABASE_URL`; `ADMIN_TOKEN`, `EVENTSHOP_ENV`, the `CUSTOMER_TOKEN_*` and the
    `KAFKA_*`/`OTEL_*` variables are shared."""

    model_config = SettingsConfigDict(extra="ignore")
    verifies_customer_tokens: ClassVar[bool] = False
    """True for a service whose API serves customers (and so needs their tokens' keys)."""

    service_name: str
    database_url: str
    admin_token: str = Field(
        default=DEV_ADMIN_TOKEN, validation_alias=AliasChoices("ADMIN_TOKEN", "admin_token")
    )
    environment: str = Field(
        default="development", validation_alias=AliasChoices("EVENTSHOP_ENV", "environment")
    )
    """`production` refuses the local stack's dev secrets (see `production_refusal`)."""
    customer_tokens: CustomerTokenSettings = Field(default_factory=CustomerTokenSettings)
    bind_host: str = Field(
        default="127.0.0.1", validation_alias=AliasChoices("BIND_HOST", "bind_host")
    )
    """Where the API listens: loopback locally, 0.0.0.0 inside a container."""
    db_pool_size: int = 10
    db_pre_ping: bool = True
    """Test each pooled connection before lending it out (a round trip per transaction).
    Workers go without: a transaction that meets a connection PostgreSQL dropped fails as a
    TransientError and is retried (consumer retries, relay back-off) on a fresh connection."""
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("LOG_LEVEL", "log_level"))

    def production_refusal(self) -> str | None:
        """Why this process must not start, in production, with what it was given: the dev
        admin token or the dev customer-token key, which anyone with the repository has."""
        if refusal := admin_token_refusal(self.environment, self.admin_token):
            return refusal
        if (
            self.environment == PRODUCTION
            and self.verifies_customer_tokens
            and self.customer_tokens.uses_dev_key()
        ):
            return (
                "EVENTSHOP_ENV=production refuses the local dev key for customer tokens; set "
                "CUSTOMER_TOKEN_JWKS_URL or CUSTOMER_TOKEN_PUBLIC_KEY_FILE"
            )
        return None

    def for_worker(self) -> Self:
        return self.model_copy(update={"db_pre_ping": False})

    def kafka(self) -> KafkaSettings:
        return KafkaSettings.from_env(client_id=self.service_name)


class HttpServiceSettings(ServiceSettings):
    """A service that also serves an HTTP API (`python -m <service> api`): where it listens."""

    port: int
