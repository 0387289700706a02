"""Settings a service process reads from its environment, once, at start-up."""

from __future__ import annotations

from typing import Self

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from eventing.config import KafkaSettings

LOCAL_POSTGRES = "postgresql+psycopg2://eventshop:eventshop@127.0.0.1:5432/{database}"


class ServiceSettings(BaseSettings):
    """Common settings. A service subclasses it with its own `env_prefix` and defaults, e.g.
    `INVENTORY_DATABASE_URL`; `ADMIN_TOKEN` and the `KAFKA_*`/`OTEL_*` variables are shared."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str
    database_url: str
    admin_token: str = Field(
        default="dev-admin-token", validation_alias=AliasChoices("ADMIN_TOKEN", "admin_token")
    )
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

    def for_worker(self) -> Self:
        return self.model_copy(update={"db_pre_ping": False})

    def kafka(self) -> KafkaSettings:
        return KafkaSettings.from_env(client_id=self.service_name)


class HttpServiceSettings(ServiceSettings):
    """A service that also serves an HTTP API (`python -m <service> api`): where it listens."""

    port: int
