"""Settings every process shares, read from environment variables with local-stack defaults."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where Kafka is. `KAFKA_BOOTSTRAP_SERVERS` overrides the local default."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "eventshop"
    admin_timeout_s: float = 60.0

    @classmethod
    def from_env(cls, **overrides: object) -> KafkaSettings:
        return cls(**overrides)

    def client_config(self) -> dict[str, str]:
        return {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id}
