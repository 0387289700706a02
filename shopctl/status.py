"""`shopctl status`: what runs, what it holds, and what is behind."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests
from rich.console import Console
from rich.table import Table

from eventing.config import KafkaSettings
from eventing.kafka_admin import admin_client
from eventing.operations import OperationRefused, consumer_groups, group_lag, topic_extent
from eventing.topics import DLQ_SUFFIX, all_topics
from servicekit import registry
from shopctl.workers import WORKERS


def _api_readiness_urls() -> dict[str, str]:
    """Each deployable's API by its `shopctl status` label: `/readyz` at the address its URL
    variable gives (`ORDER_SERVICE_URL`), or at its local default."""
    urls = {}
    for entry in registry.SHOP:
        api = entry.api
        if api is None or api.status_label is None or entry.url_variable is None:
            continue
        urls[api.status_label] = os.environ.get(entry.url_variable, entry.base_url()) + "/readyz"
    return urls


HTTP_PARTS = {
    **_api_readiness_urls(),
    "elasticsearch": os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    + "/_cluster/health",
    "jaeger": os.environ.get("JAEGER_QUERY_URL", "http://127.0.0.1:16686") + "/api/services",
}


@dataclass(frozen=True)
class PartState:
    name: str
    state: str
    """up, down, starting (a worker's group rebalancing), or an HTTP status code."""
    where: str
    detail: str = ""


@dataclass(frozen=True)
class TopicState:
    name: str
    partitions: int
    written: int
    retained: int
    missing: bool = False

    @property
    def is_dead_letter(self) -> bool:
        return self.name.endswith(DLQ_SUFFIX)


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str
    lag_per_topic: dict[str, int]

    @property
    def lag(self) -> int:
        return sum(self.lag_per_topic.values())


@dataclass(frozen=True)
class ShopStatus:
    """What `shopctl status` prints and the console's overview draws."""

    parts: list[PartState]
    topics: list[TopicState] = field(default_factory=list)
    groups: list[GroupState] = field(default_factory=list)
    sagas_by_state: dict[str, int] = field(default_factory=dict)


def _worker_state(group_state: str | None) -> tuple[str, str]:
    """A worker is up while its consumer group has members (any state but EMPTY or DEAD)."""
    if group_state is None:
        return "down", "never joined"
    if group_state in ("EMPTY", "DEAD"):
        return "down", ""
    return ("up", "") if group_state == "STABLE" else (group_state.lower(), "")


def _http_state(url: str) -> str:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return "down"
    return "up" if response.ok else str(response.status_code)


def _postgres_state() -> tuple[str, str]:
    from shopctl.sagas import counts_by_state

    try:
        counts_by_state()
    except Exception as error:
        return "down", type(error).__name__
    return "up", ""


#: Groups of short-lived readers (peeks, replays, benchmarks), left out of the lag table.
_TRANSIENT_GROUPS = ("shopctl-peek-", "reader-", "read-range-", "bench-")


def collect(settings: KafkaSettings, endpoints: Mapping[str, str] = HTTP_PARTS) -> ShopStatus:
    """Every part's state, the topics' extents, each consumer group's lag, sagas by state."""
    admin = admin_client(settings)
    try:
        admin.list_topics(timeout=3)
        kafka_up = True
    except Exception:
        kafka_up = False
    parts = [PartState("kafka", "up" if kafka_up else "down", settings.bootstrap_servers)]
    postgres, why = _postgres_state()
    parts.append(PartState("postgresql", postgres, "sagas database", why))
    parts.extend(PartState(name, _http_state(url), url) for name, url in endpoints.items())
    if not kafka_up:
        return ShopStatus(parts)
    group_states = consumer_groups(settings)
    for worker in WORKERS:
        state, detail = _worker_state(group_states.get(settings.qualify(worker.group)))
        parts.append(PartState(worker.label, state, f"group {worker.group}", detail))
    topics = []
    for spec in all_topics():
        name = settings.qualify(spec.name)
        try:
            extent = topic_extent(admin, name)
        except OperationRefused:  # not created yet (python -m eventing.topics create)
            topics.append(TopicState(name, 0, 0, 0, missing=True))
            continue
        topics.append(TopicState(name, len(extent.latest), extent.written, extent.retained))
    groups = []
    for group, state in sorted(group_states.items()):
        if group.startswith(_TRANSIENT_GROUPS) or not group.startswith(settings.topic_namespace):
            continue
        per_topic: dict[str, int] = {}
        for lag in group_lag(settings, group):
            per_topic[lag.topic] = per_topic.get(lag.topic, 0) + lag.lag
        groups.append(GroupState(group, state, per_topic))
    from shopctl.sagas import counts_by_state

    return ShopStatus(parts, topics, groups, counts_by_state() if postgres == "up" else {})


_COLOURS = {"up": "green", "down": "red"}


def _coloured(state: str, detail: str = "") -> str:
    text = f"[{_COLOURS.get(state, 'yellow')}]{state}[/]"
    return f"{text} ({detail})" if detail else text


def show(console: Console, settings: KafkaSettings) -> None:
    status = collect(settings)
    parts = Table(title="stack and services", title_justify="left")
    parts.add_column("part")
    parts.add_column("state")
    parts.add_column("where")
    for part in status.parts:
        parts.add_row(part.name, _coloured(part.state, part.detail), part.where)
    console.print(parts)
    if not status.topics:
        return

    topics = Table(title="topics", title_justify="left")
    for column in ("topic", "partitions", "end offsets (sum)", "retained messages"):
        topics.add_column(column)
    for topic in status.topics:
        retained = str(topic.retained)
        if topic.is_dead_letter and topic.retained:
            retained = f"[red]{retained}[/]"
        if topic.missing:
            retained = "[red]missing[/]"
        topics.add_row(topic.name, str(topic.partitions), str(topic.written), retained)
    console.print(topics)

    groups = Table(title="consumer groups", title_justify="left")
    for column in ("group", "state", "lag", "per topic"):
        groups.add_column(column)
    for group in status.groups:
        groups.add_row(
            group.group,
            group.state,
            str(group.lag),
            ", ".join(f"{t}={n}" for t, n in sorted(group.lag_per_topic.items())),
        )
    console.print(groups)

    now = datetime.now(UTC)
    outboxes = Table(title="outbox backlog", title_justify="left")
    for column in ("service", "unpublished", "oldest"):
        outboxes.add_column(column)
    for backlog in outbox_backlogs():
        age = backlog.oldest_age(now)
        outboxes.add_row(
            backlog.service,
            "[yellow]?[/]" if backlog.unpublished is None else str(backlog.unpublished),
            backlog.error or (f"{age.total_seconds():.1f}s ago" if age else "-"),
        )
    console.print(outboxes)
    console.print(parked_outbox_rows())

    sagas = Table(title="sagas by state", title_justify="left")
    sagas.add_column("state")
    sagas.add_column("count")
    for state, count in sorted(status.sagas_by_state.items()):
        sagas.add_row(state, str(count))
    console.print(sagas)


@dataclass(frozen=True)
class OutboxBacklog:
    service: str
    unpublished: int | None
    """Rows waiting for a relay (held ones included); None when the database did not answer
    (then `error` says why)."""
    oldest: datetime | None = None
    parked: int = 0
    """Rows parked as unpublishable, awaiting an operator's retry or discard."""
    error: str = ""

    def oldest_age(self, now: datetime) -> timedelta | None:
        return now - self.oldest if self.oldest else None


def outbox_backlogs() -> list[OutboxBacklog]:
    """Per service: how many outbox rows wait for a relay, since when the oldest, and how many
    are parked."""
    from eventing.outbox_admin import backlog, parked_counts
    from shopctl.outbox import OUTBOX_SERVICES, OutboxUnreadable, service_outbox

    backlogs = []
    for service in OUTBOX_SERVICES:
        try:
            with service_outbox(service) as box:
                waiting, oldest = backlog(box.engine, box.table)
                parked = sum(parked_counts(box.engine, box.table).values())
        except OutboxUnreadable as error:
            reason = str(error).removeprefix(f"{service}: ")
            backlogs.append(OutboxBacklog(service, None, error=reason))
            continue
        backlogs.append(OutboxBacklog(service, waiting, oldest, parked))
    return backlogs


def parked_outbox_rows() -> Table:
    """Per service, the outbox rows parked because the broker can never take them (each holds
    back the later rows of its key until `shopctl outbox retry` or `discard`)."""
    from eventing.outbox_admin import parked_counts
    from shopctl.outbox import OUTBOX_SERVICES, OutboxUnreadable, service_outbox

    view = Table(title="parked outbox rows", title_justify="left")
    for column in ("service", "parked", "per topic"):
        view.add_column(column)
    for service in OUTBOX_SERVICES:
        try:
            with service_outbox(service) as box:
                counts = parked_counts(box.engine, box.table)
        except OutboxUnreadable as error:
            view.add_row(service, "[yellow]?[/]", str(error).removeprefix(f"{service}: "))
            continue
        total = sum(counts.values())
        view.add_row(
            service,
            f"[red]{total}[/]" if total else "0",
            ", ".join(f"{topic}={count}" for topic, count in counts.items()) or "-",
        )
    return view
