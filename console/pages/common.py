"""What several pages share: the settings, Jaeger, the services' HTTP APIs."""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app

from console.config import ConsoleSettings
from console.jaeger import JaegerClient, JaegerUnavailable, TraceQuery
from eventing.config import KafkaSettings

#: The span attribute the checkout and cancellation sagas put their order's id in.
ORDER_ATTRIBUTE = "order.id"
SAGA_SERVICE = "checkout-saga"


def settings() -> ConsoleSettings:
    return current_app.config["CONSOLE_SETTINGS"]


def jaeger(timeout_s: float = 10.0) -> JaegerClient:
    return JaegerClient(settings().jaeger_query_url, timeout_s)


def trace_of_order(order_id: str) -> str | None:
    """The id of the order's checkout trace (its saga's spans carry `order.id`), or None when
    Jaeger does not know it (not exported, expired, or Jaeger down)."""
    try:
        found = jaeger(timeout_s=3).search(
            TraceQuery(SAGA_SERVICE, attributes={ORDER_ATTRIBUTE: order_id}, limit=5)
        )
    except JaegerUnavailable:
        return None
    if not found:
        return None
    earliest = min(found, key=lambda t: min(int(s["startTime"]) for s in t["spans"]))
    return earliest["traceID"]


class ServiceUnavailable(Exception):
    pass


def service_get(base_url: str, path: str, params: dict[str, Any] | None = None) -> Any | None:
    """GET a shop API's JSON, as the admin (support staff reading any customer's orders and
    payments); None for a 404; ServiceUnavailable when it does not answer."""
    admin = {"Authorization": f"Bearer {settings().admin_token}"}
    try:
        response = requests.get(f"{base_url}{path}", params=params, headers=admin, timeout=10)
    except requests.RequestException as error:
        raise ServiceUnavailable(f"{base_url} did not answer: {error}") from None
    if response.status_code == 404:
        return None
    if not response.ok:
        raise ServiceUnavailable(f"{base_url}{path} answered {response.status_code}")
    return response.json()


def kafka_settings() -> KafkaSettings:
    """The shop's Kafka as the environment names it (`KAFKA_*`, like every process)."""
    return KafkaSettings.from_env(client_id="console", admin_timeout_s=10)
