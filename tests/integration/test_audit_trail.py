"""One audit trail for every admin and operator action, read with `shopctl audit`, on the real
PostgreSQL and Kafka: the inventory API's product writes (through its outbox, published by its
relay) beside shopctl's own actions (a replay here; saga retries and redrives are in
test_operator_operations)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from inventory_service.config import Settings
from inventory_service.deployable import DEPLOYABLE
from servicekit.migrations import upgrade
from testkit.cli import run_shopctl
from testkit.conditions import wait_for

pytestmark = pytest.mark.integration

OPERATOR = "audit-tester"


def _env(shop_topics) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_TOPIC_NAMESPACE": shop_topics.topic_namespace,
        "SHOPCTL_OPERATOR": OPERATOR,
    }


def test_product_writes_and_a_replay_are_in_shopctl_audit(scratch_engine, shop_topics):
    url = scratch_engine.url.render_as_string(hide_password=False)
    upgrade(Path("inventory_service/migrations"), url)
    app = DEPLOYABLE.runtime(Settings(database_url=url, admin_token="audit-admin"), shop_topics)
    client = app.flask_app().test_client()
    admin = {"Authorization": "Bearer audit-admin"}
    sku = f"AUDIT-{uuid.uuid4().hex[:6].upper()}"
    created = client.post(
        "/products",
        headers=admin,
        json={"sku": sku, "name": "Mug", "category": "k", "price_cents": 900, "stock": 2},
    )
    assert created.status_code == 201, created.json
    restocked = client.post(f"/products/{sku}/restock", json={"quantity": 5}, headers=admin)
    assert restocked.status_code == 200, restocked.json
    wait_for(lambda: app.relay().publish_pending() == 0, 60, "the outbox published")

    group = f"audit-replay-{uuid.uuid4().hex[:6]}"
    replayed = run_shopctl(
        "replay", "--topic", "inventory.products", "--group", group, "--from-beginning",
        env=_env(shop_topics),
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr

    audit = run_shopctl("audit", env=_env(shop_topics))
    assert audit.returncode == 0, audit.stderr
    lines = [line for line in audit.stdout.splitlines() if sku in line or "replay" in line]
    assert any("product.create" in line and "price 900 cents" in line for line in lines), lines
    assert any("product.restock" in line and "+5 units" in line for line in lines), lines
    assert any("inventory-service:admin@127.0.0.1" in line for line in lines), lines
    assert any(f"shopctl:{OPERATOR}" in line and "replay" in line for line in lines), lines
    app.engine.dispose()
