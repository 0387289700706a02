"""`shopctl status`: what runs, what it holds, and what is behind."""

from __future__ import annotations

import os

import requests
from rich.console import Console
from rich.table import Table

from eventing.config import KafkaSettings
from eventing.kafka_admin import admin_client
from eventing.operations import consumer_groups, group_lag, topic_extent
from eventing.topics import DLQ_SUFFIX, all_topics
from shopctl.workers import WORKERS

HTTP_PARTS = {
    "order-service": os.environ.get("ORDER_SERVICE_URL", "http://127.0.0.1:8000") + "/readyz",
    "inventory-service": os.environ.get("INVENTORY_SERVICE_URL", "http://127.0.0.1:8001")
    + "/readyz",
    "payment-service": os.environ.get("PAYMENT_SERVICE_URL", "http://127.0.0.1:8002") + "/readyz",
    "search-api": os.environ.get("SEARCH_SERVICE_URL", "http://127.0.0.1:8003") + "/readyz",
    "elasticsearch": os.environ.get("ELASTICSEARCH_URL", "http://127.0.0.1:9200")
    + "/_cluster/health",
    "jaeger": os.environ.get("JAEGER_QUERY_URL", "http://127.0.0.1:16686") + "/api/services",
}


def _worker_state(group_state: str | None) -> str:
    """A worker is up while its consumer group has members (any state but EMPTY or DEAD)."""
    if group_state is None:
        return "[red]down[/] (never joined)"
    if group_state in ("EMPTY", "DEAD"):
        return "[red]down[/]"
    return "[green]up[/]" if group_state == "STABLE" else f"[yellow]{group_state.lower()}[/]"


def _http_state(url: str) -> str:
    try:
        response = requests.get(url, timeout=2)
    except requests.RequestException:
        return "[red]down[/]"
    return "[green]up[/]" if response.ok else f"[yellow]{response.status_code}[/]"


def _postgres_state() -> str:
    from shopctl.sagas import counts_by_state

    try:
        counts_by_state()
    except Exception as error:
        return f"[red]down[/] ({type(error).__name__})"
    return "[green]up[/]"


def show(console: Console, settings: KafkaSettings) -> None:
    parts = Table(title="stack and services", title_justify="left")
    parts.add_column("part")
    parts.add_column("state")
    parts.add_column("where")
    admin = admin_client(settings)
    try:
        admin.list_topics(timeout=3)
        kafka_up = True
    except Exception:
        kafka_up = False
    parts.add_row(
        "kafka", "[green]up[/]" if kafka_up else "[red]down[/]", settings.bootstrap_servers
    )
    parts.add_row("postgresql", _postgres_state(), "sagas database")
    for name, url in HTTP_PARTS.items():
        parts.add_row(name, _http_state(url), url)
    if not kafka_up:
        console.print(parts)
        return
    group_states = consumer_groups(settings)
    for worker in WORKERS:
        state = _worker_state(group_states.get(settings.qualify(worker.group)))
        parts.add_row(worker.label, state, f"group {worker.group}")
    console.print(parts)

    topics = Table(title="topics", title_justify="left")
    for column in ("topic", "partitions", "end offsets (sum)", "retained messages"):
        topics.add_column(column)
    for spec in all_topics():
        name = settings.qualify(spec.name)
        extent = topic_extent(admin, name)
        retained = extent.retained
        style = "red" if name.endswith(DLQ_SUFFIX) and retained else ""
        topics.add_row(
            name,
            str(len(extent.latest)),
            str(extent.written),
            f"[{style}]{retained}[/]" if style else str(retained),
        )
    console.print(topics)

    groups = Table(title="consumer groups", title_justify="left")
    for column in ("group", "state", "lag", "per topic"):
        groups.add_column(column)
    for group, state in sorted(group_states.items()):
        if group.startswith(("shopctl-peek-", "reader-", "bench-")):
            continue
        lags = group_lag(settings, group)
        per_topic: dict[str, int] = {}
        for lag in lags:
            per_topic[lag.topic] = per_topic.get(lag.topic, 0) + lag.lag
        groups.add_row(
            group,
            state,
            str(sum(per_topic.values())),
            ", ".join(f"{t}={n}" for t, n in sorted(per_topic.items())),
        )
    console.print(groups)

    console.print(parked_outbox_rows())

    from shopctl.sagas import counts_by_state

    sagas = Table(title="sagas by state", title_justify="left")
    sagas.add_column("state")
    sagas.add_column("count")
    for state, count in sorted(counts_by_state().items()):
        sagas.add_row(state, str(count))
    console.print(sagas)


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
