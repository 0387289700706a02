"""Each service's /readyz on the real servers: 200 while its database and Kafka answer, a 503
problem naming each dependency that does not (here, ports nothing listens on)."""

from __future__ import annotations

from pathlib import Path

import pytest

import inventory_service.config
import inventory_service.deployable
import order_service.config
import order_service.deployable
import payment_service.config
import payment_service.deployable
from eventing.config import KafkaSettings
from servicekit.migrations import upgrade
from testkit.ports import free_port

pytestmark = pytest.mark.integration

SERVICES = {
    "order_service": (order_service.config.Settings, order_service.deployable.DEPLOYABLE.runtime),
    "payment_service": (
        payment_service.config.Settings,
        payment_service.deployable.DEPLOYABLE.runtime,
    ),
    "inventory_service": (
        inventory_service.config.Settings,
        inventory_service.deployable.DEPLOYABLE.runtime,
    ),
}


@pytest.fixture(params=sorted(SERVICES))
def service(request):
    return SERVICES[request.param], Path(request.param) / "migrations"


def test_a_service_whose_database_and_kafka_answer_is_ready(
    service, scratch_engine, customer_tokens
):
    (settings_class, bootstrap), migrations = service
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(migrations, url)
    settings = settings_class(database_url=url, customer_tokens=customer_tokens.settings())
    app = bootstrap(settings, KafkaSettings.from_env())
    response = app.flask_app().test_client().get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == ["database", "kafka"]


def test_a_service_cut_off_from_its_database_and_kafka_is_a_503_naming_both(
    service, customer_tokens
):
    (settings_class, bootstrap), _ = service
    nowhere = f"127.0.0.1:{free_port()}"
    settings = settings_class(
        database_url=f"postgresql+psycopg2://eventshop:eventshop@{nowhere}/none",
        customer_tokens=customer_tokens.settings(),
    )
    app = bootstrap(settings, KafkaSettings(bootstrap_servers=nowhere))
    response = app.flask_app().test_client().get("/readyz")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert "database:" in response.json["detail"] and "kafka:" in response.json["detail"]
