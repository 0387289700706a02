"""The cluster as an administrator sees it: creating and reconciling the declared topics, waiting
for the cluster, and the readiness check every service runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from eventing.config import KafkaSettings
from eventing.errors import KafkaUnavailable, PublishError
from eventing.topics import TopicSpec

_LIBRDKAFKA_LOG = logging.getLogger("eventing.librdkafka")


def admin_client(settings: KafkaSettings) -> AdminClient:
    """An admin client whose librdkafka log lines go to Python logging (`eventing.librdkafka`),
    not raw to stderr: a CLI prints one readable line on failure, and a service logs JSON.
    (An admin client's failures reach its callers through the futures it returns.)"""
    # confluent-kafka's stubs omit the `logger` setting its clients take.
    config: dict[str, Any] = {**settings.client_config(), "logger": _LIBRDKAFKA_LOG}
    return AdminClient(config)


def admin_result(future: Any, what: str, timeout_s: float = 15.0) -> Any:
    """The result of one admin request, or KafkaUnavailable saying `what` failed."""
    try:
        return future.result(timeout=timeout_s)
    except KafkaException as error:
        raise KafkaUnavailable(f"{what}: {error.args[0].str()}") from error


def cluster_check(settings: KafkaSettings, timeout_s: float = 2.0) -> Callable[[], None]:
    """A readiness check: returns when the cluster answers a metadata request, raises
    otherwise. Its admin client is made on first use and kept."""
    admin: list[AdminClient] = []

    def check() -> None:
        if not admin:
            admin.append(admin_client(settings))
        admin[0].list_topics(timeout=timeout_s)

    return check


def wait_for_cluster(admin: AdminClient, timeout_s: float) -> dict[str, int]:
    """Block until the broker answers a metadata request; return topic -> partition count."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            metadata = admin.list_topics(timeout=5)
            return {name: len(topic.partitions) for name, topic in metadata.topics.items()}
        except KafkaException as error:
            if time.monotonic() >= deadline:
                raise KafkaUnavailable(
                    f"Kafka did not answer within {timeout_s:.0f}s: {error}"
                ) from error
            time.sleep(0.5)


def ensure_topics(settings: KafkaSettings, specs: Iterable[TopicSpec]) -> list[str]:
    """Create missing topics, grow partition counts, apply configs. Returns the created names.

    Names are qualified with the settings' topic namespace."""
    specs = [replace(spec, name=settings.qualify(spec.name)) for spec in specs]
    admin = admin_client(settings)
    existing = wait_for_cluster(admin, settings.admin_timeout_s)
    missing = [spec for spec in specs if spec.name not in existing]
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(spec.name, spec.partitions, spec.replication_factor, config=spec.config)
                for spec in missing
            ]
        )
        _wait_all(futures, "creating topic", tolerate="TOPIC_ALREADY_EXISTS")
    grow = [
        NewPartitions(spec.name, spec.partitions)
        for spec in specs
        if spec.name in existing and existing[spec.name] < spec.partitions
    ]
    if grow:
        _wait_all(admin.create_partitions(grow), "adding partitions to")
    present = [spec for spec in specs if spec.name in existing and spec.config]
    if present:
        resources = [
            ConfigResource(
                ConfigResource.Type.TOPIC,
                spec.name,
                incremental_configs=[
                    ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                    for key, value in spec.config.items()
                ],
            )
            for spec in present
        ]
        _wait_all(admin.incremental_alter_configs(resources), "configuring topic")
    return [spec.name for spec in missing]


def delete_topics(settings: KafkaSettings, names: Iterable[str]) -> None:
    """Delete topics (names qualified with the settings' namespace)."""
    admin = admin_client(settings)
    qualified = [settings.qualify(name) for name in names]
    _wait_all(admin.delete_topics(qualified), "deleting topic", tolerate="UNKNOWN_TOPIC_OR_PART")


def _wait_all(futures: dict, action: str, tolerate: str | None = None) -> None:
    for name, future in futures.items():
        try:
            future.result(timeout=30)
        except KafkaException as error:
            kafka_error = error.args[0]
            if tolerate and kafka_error.name() == tolerate:
                continue
            raise PublishError(f"{action} {name}: {kafka_error.str()}") from error
