"""Settings every process shares, read from environment variables with local-stack defaults."""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """Where Kafka is. `KAFKA_BOOTSTRAP_SERVERS` overrides the local default."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    client_id: str = "eventshop"
    admin_timeout_s: float = 60.0
    topic_namespace: str = ""
    """Prefix of every topic name (`KAFKA_TOPIC_NAMESPACE`): lets tests, or a second shop, share
    one cluster without seeing each other's messages. Empty for the shop itself."""
    group_instance_id: str = ""
    """This process's static membership of its consumer group (`KAFKA_GROUP_INSTANCE_ID`,
    KIP-345): its deployable name and instance number, e.g. `order_service-worker-1`, set by
    whatever starts the process (infra/services/ctl, docker-compose.yml, testkit.shop). A worker
    killed and started again under the same id takes its partitions back at once instead of
    waiting for the group to notice the old member is gone. Two live processes must never share
    one: the later fences the earlier, whose consumer then fails. Empty: a dynamic member."""

    def qualify(self, topic: str) -> str:
        """The topic's name on the broker."""
        return f"{self.topic_namespace}{topic}" if self.topic_namespace else topic

    @classmethod
    def from_env(cls, **overrides: Any) -> KafkaSettings:
        return cls(**overrides)

    def client_config(self) -> dict[str, str | int | float | bool]:
        """The librdkafka settings every client of the shop starts from."""
        return {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id}
