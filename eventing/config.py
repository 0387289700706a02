"""Settings every process shares, read from environment variables with local-stack defaults.

Topic and group names: the shop's code names topics and consumer groups logically
(`orders.commands`, `order-service`: `eventing.topics`, a deployable's name, `event.topic`, an
outbox row). The broker's name adds the settings' namespace in front (`KAFKA_TOPIC_NAMESPACE`,
empty for the shop itself). Only the parts that hand a name to Kafka make it, through
`qualified`: the consumer (its subscription and group), the outbox relay (each row's topic as
it publishes it), the admin (`ensure_topics`, `delete_topics`), and the operator tools (shopctl,
the console), which take what an operator types through `KafkaSettings.broker_name`. What Kafka
reports back (lag, dead letters and their headers, the positions a hold names) is in the
broker's names, as it happened on the broker.
"""

from __future__ import annotations

from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict


def qualified(namespace: str, name: str) -> str:
    """The broker's name of a logical topic or group in `namespace`: the one place the
    namespace is put in front of a name."""
    return f"{namespace}{name}"


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

    def qualify(self, name: str) -> str:
        """The broker's name of a logical topic or consumer group (see `broker_name`)."""
        return qualified(self.topic_namespace, name)

    def in_namespace(self, broker_name: str) -> bool:
        """Whether a name the broker lists is one of this namespace's (every one, without one)."""
        return broker_name.startswith(self.topic_namespace)

    def logical(self, broker_name: str) -> str | None:
        """The logical name of a topic or group the broker lists; None when it is not of this
        namespace (another test's, another shop's)."""
        if not self.in_namespace(broker_name):
            return None
        return broker_name.removeprefix(self.topic_namespace)

    def broker_name(self, name: str) -> str:
        """The broker's name of what an operator names: the logical name (`orders.commands`),
        or the broker's own, as `shopctl` and the console show it. A namespace is never the
        start of a logical name (namespaces are a unique tag, e.g. `t1a2b3c4d.`), so a name
        already in the namespace is taken as the broker's."""
        if self.topic_namespace and self.in_namespace(name):
            return name
        return self.qualify(name)

    @classmethod
    def from_env(cls, **overrides: Any) -> KafkaSettings:
        return cls(**overrides)

    def client_config(self) -> dict[str, str | int | float | bool]:
        """The librdkafka settings every client of the shop starts from."""
        return {"bootstrap.servers": self.bootstrap_servers, "client.id": self.client_id}
