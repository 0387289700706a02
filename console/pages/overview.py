"""Overview: what runs, what is behind (consumer lag, outbox backlog), dead letters, sagas by
state, and checkouts per minute over the last 15 minutes; refreshing itself every few seconds."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint

from console.charts import checkout_chart
from console.pages.common import kafka_settings, settings
from console.rendering import render
from shopctl import sagas as saga_operations
from shopctl.status import collect, outbox_backlogs

blueprint = Blueprint("overview", __name__)


def endpoints() -> dict[str, str]:
    """The parts the console checks over HTTP, at the addresses the console was given."""
    config = settings()
    return {
        "order-service": f"{config.order_service_url}/readyz",
        "inventory-service": f"{config.inventory_service_url}/readyz",
        "payment-service": f"{config.payment_service_url}/readyz",
        "search-api": f"{config.search_service_url}/readyz",
        "elasticsearch": f"{config.elasticsearch_url}/_cluster/health",
        "jaeger": f"{config.jaeger_query_url}/api/services",
    }


@blueprint.get("/")
def page() -> str:
    status = collect(kafka_settings(), endpoints())
    try:
        minutes = saga_operations.checkout_minutes(minutes=15)
    except Exception:  # the sagas database is down: the parts table already says so
        minutes = []
    return render(
        "overview.html",
        status=status,
        backlogs=outbox_backlogs(),
        chart=checkout_chart(minutes),
        minutes=minutes,
        dead_letters=[t for t in status.topics if t.is_dead_letter],
        now=datetime.now(UTC),
    )
