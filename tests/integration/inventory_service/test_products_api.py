"""The contract's inventory routes through the Flask app that its deployable builds, on the real
database: products, stock, paging, every error status, and the events each change publishes."""

from __future__ import annotations

import pytest

from tests.integration.inventory_service.support import (
    ADMIN,
    new_product,
    outbox_destinations,
    outbox_events,
)

pytestmark = pytest.mark.integration

MAX_INT = 2_147_483_647


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.json
    assert response.content_type == "application/problem+json"
    assert response.json["status"] == status
    return response.json


class TestCreate:
    def test_creating_a_product_returns_it_with_its_stock_and_version_1(self, client):
        response = new_product(client)
        assert response.status_code == 201
        assert response.headers["Location"] == "/products/MUG-1"
        assert response.json == {
            "sku": "MUG-1",
            "name": "Blue mug",
            "description": "A mug",
            "category": "kitchen",
            "price_cents": 1200,
            "stock_on_hand": 10,
            "stock_reserved": 0,
            "stock_available": 10,
            "attributes": {"colour": "blue"},
            "version": 1,
        }
        assert client.get("/products/MUG-1").json == response.json

    def test_description_and_attributes_are_optional(self, client):
        body = {"sku": "P-1", "name": "Pen", "category": "office", "price_cents": 0, "stock": 0}
        response = client.post("/products", json=body, headers=ADMIN)
        assert response.status_code == 201
        assert (response.json["description"], response.json["attributes"]) == ("", {})

    def test_a_duplicate_sku_is_a_409_even_after_deletion(self, client):
        new_product(client)
        problem(new_product(client, name="Other"), 409)
        client.delete("/products/MUG-1", headers=ADMIN)
        problem(new_product(client), 409)

    @pytest.mark.parametrize(
        "body",
        [
            {"price_cents": -1},
            {"price_cents": 12.5},
            {"price_cents": "1200"},
            {"price_cents": MAX_INT + 1},
            {"stock": -2},
            {"stock": True},
            {"stock": MAX_INT + 1},
            {"sku": ""},
            {"sku": "has space"},
            {"name": ""},
            {"category": ""},
            {"description": "nul \x00 inside"},
            {"attributes": "blue"},
            {"attributes": {"colour": "nul \x00 inside"}},
            {"attributes": {"colour": "\udfff"}},
            {"attributes": {"k" * 101: 1}},
            {"attributes": {f"k{n}": n for n in range(51)}},
            {"attributes": {"k": "x" * 17_000}},
            {"name": "n" * 201},
            {"description": "d" * 5001},
            {"category": "c" * 101},
            {"colour": "blue"},
        ],
    )
    def test_invalid_values_are_a_422_naming_the_field(self, client, body):
        document = problem(new_product(client, **body), 422)
        assert document["errors"][0]["field"].split(".")[0] in {*body, "body"}
        assert client.get("/products").json["total"] == 0

    def test_a_missing_field_is_a_422(self, client):
        body = {"sku": "X-1", "name": "x", "category": "c", "price_cents": 1}
        assert problem(client.post("/products", json=body, headers=ADMIN), 422)["errors"] == [
            {"field": "stock", "message": "Field required"}
        ]

    def test_malformed_or_missing_json_is_a_400(self, client):
        problem(
            client.post("/products", data="{", content_type="application/json", headers=ADMIN), 400
        )
        problem(client.post("/products", headers=ADMIN), 400)


class TestAdminAuth:
    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/products", {"sku": "X-1"}),
            ("PATCH", "/products/MUG-1", {"name": "x"}),
            ("POST", "/products/MUG-1/restock", {"quantity": 1}),
            ("DELETE", "/products/MUG-1", None),
        ],
    )
    def test_writes_need_the_admin_token(self, client, method, path, body):
        new_product(client)
        problem(client.open(path, method=method, json=body), 401)
        wrong = {"Authorization": "Bearer nope"}
        problem(client.open(path, method=method, json=body, headers=wrong), 403)
        assert client.get("/products/MUG-1").json["version"] == 1

    def test_reads_need_no_token(self, client):
        new_product(client)
        assert client.get("/products/MUG-1").status_code == 200
        assert client.get("/products").status_code == 200


class TestRead:
    def test_an_unknown_sku_is_a_404(self, client):
        problem(client.get("/products/NOPE"), 404)

    def test_a_sku_no_product_could_have_is_a_404_too(self, client):
        problem(client.get("/products/%00x"), 404)
        problem(client.delete("/products/%00x", headers=ADMIN), 404)


class TestPatch:
    def test_patch_changes_only_the_given_details_and_bumps_the_version(self, client):
        new_product(client)
        response = client.patch(
            "/products/MUG-1",
            json={"price_cents": 1500, "name": "Big mug", "attributes": {"size": "L"}},
            headers=ADMIN,
        )
        assert response.status_code == 200
        assert response.json == {
            "sku": "MUG-1",
            "name": "Big mug",
            "description": "A mug",
            "category": "kitchen",
            "price_cents": 1500,
            "stock_on_hand": 10,
            "stock_reserved": 0,
            "stock_available": 10,
            "attributes": {"size": "L"},
            "version": 2,
        }
        assert client.get("/products/MUG-1").json == response.json

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"name": None},
            {"name": ""},
            {"price_cents": -1},
            {"price_cents": MAX_INT + 1},
            {"category": "nul \x00"},
            {"stock": 3},
            {"sku": "OTHER-1"},
        ],
    )
    def test_an_empty_patch_or_invalid_values_are_a_422(self, client, body):
        new_product(client)
        problem(client.patch("/products/MUG-1", json=body, headers=ADMIN), 422)
        assert client.get("/products/MUG-1").json["version"] == 1

    def test_patching_an_unknown_or_deleted_product_is_a_404(self, client):
        problem(client.patch("/products/NOPE", json={"name": "x"}, headers=ADMIN), 404)
        new_product(client)
        client.delete("/products/MUG-1", headers=ADMIN)
        problem(client.patch("/products/MUG-1", json={"name": "x"}, headers=ADMIN), 404)


class TestRestock:
    def test_restock_adds_to_stock_on_hand_and_bumps_the_version(self, client):
        new_product(client, stock=2)
        response = client.post("/products/MUG-1/restock", json={"quantity": 5}, headers=ADMIN)
        assert response.status_code == 200
        assert (
            response.json["stock_on_hand"],
            response.json["stock_available"],
            response.json["version"],
        ) == (7, 7, 2)

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, "2", None, MAX_INT + 1])
    def test_restock_needs_a_positive_whole_quantity(self, client, quantity):
        new_product(client, stock=2)
        path = "/products/MUG-1/restock"
        problem(client.post(path, json={"quantity": quantity}, headers=ADMIN), 422)
        assert client.get("/products/MUG-1").json["stock_on_hand"] == 2

    def test_restocking_past_the_most_units_a_product_can_count_is_a_422(self, client):
        new_product(client, stock=MAX_INT - 1)
        path = "/products/MUG-1/restock"
        document = problem(client.post(path, json={"quantity": 2}, headers=ADMIN), 422)
        assert document["errors"][0]["field"] == "quantity"
        assert client.post(path, json={"quantity": 1}, headers=ADMIN).json["stock_on_hand"] == (
            MAX_INT
        )

    def test_restocking_an_unknown_or_deleted_product_is_a_404(self, client):
        path = "/products/MUG-1/restock"
        problem(client.post(path, json={"quantity": 1}, headers=ADMIN), 404)
        new_product(client)
        client.delete("/products/MUG-1", headers=ADMIN)
        problem(client.post(path, json={"quantity": 1}, headers=ADMIN), 404)


class TestDelete:
    def test_a_deleted_product_is_gone_from_reads_and_lists(self, client):
        new_product(client)
        response = client.delete("/products/MUG-1", headers=ADMIN)
        assert (response.status_code, response.data) == (204, b"")
        problem(client.get("/products/MUG-1"), 404)
        assert client.get("/products").json == {
            "items": [],
            "page": 1,
            "page_size": 20,
            "total": 0,
        }
        assert client.get("/products?category=kitchen").json["total"] == 0

    def test_deleting_an_unknown_or_deleted_product_is_a_404(self, client):
        problem(client.delete("/products/NOPE", headers=ADMIN), 404)
        new_product(client)
        client.delete("/products/MUG-1", headers=ADMIN)
        problem(client.delete("/products/MUG-1", headers=ADMIN), 404)


class TestList:
    def test_listing_pages_by_sku_and_filters_by_category(self, client):
        for n in (3, 0, 4, 1, 2):
            new_product(client, sku=f"K-{n}", category="kitchen")
        new_product(client, sku="G-1", category="garden")
        page = client.get("/products?category=kitchen&page=2&page_size=2").json
        assert (
            [p["sku"] for p in page["items"]],
            page["total"],
            page["page"],
            page["page_size"],
        ) == (
            ["K-2", "K-3"],
            5,
            2,
            2,
        )
        assert page["items"][0] == client.get("/products/K-2").json
        last = client.get("/products?category=kitchen&page=3&page_size=2").json
        assert [p["sku"] for p in last["items"]] == ["K-4"]
        beyond = client.get("/products?page=9").json
        assert (beyond["items"], beyond["total"]) == ([], 6)

    def test_defaults_are_page_1_of_20_and_blank_parameters_mean_the_defaults(self, client):
        for n in range(21):
            new_product(client, sku=f"S-{n:02d}")
        for query in ("", "?category=&page=&page_size="):
            page = client.get(f"/products{query}").json
            assert (len(page["items"]), page["page"], page["page_size"], page["total"]) == (
                20,
                1,
                20,
                21,
            )

    @pytest.mark.parametrize(
        "query", ["page=0", "page=-1", "page=x", "page_size=0", "page_size=101", "category=%00"]
    )
    def test_invalid_paging_is_a_422(self, client, query):
        problem(client.get(f"/products?{query}"), 422)

    def test_page_size_100_is_allowed(self, client):
        assert client.get("/products?page_size=100").status_code == 200


def test_every_change_publishes_the_full_state_with_a_growing_version(app, client, shop_topics):
    new_product(client)
    client.patch("/products/MUG-1", json={"name": "Red mug"}, headers=ADMIN)
    client.post("/products/MUG-1/restock", json={"quantity": 1}, headers=ADMIN)
    client.delete("/products/MUG-1", headers=ADMIN)
    published = outbox_events(app, "Product")
    assert [(e.type, e.payload["version"]) for e in published] == [
        ("ProductCreated", 1),
        ("ProductUpdated", 2),
        ("StockChanged", 3),
        ("ProductDeleted", 4),
    ]
    products_topic = shop_topics.qualify("inventory.products")
    assert [d for d in outbox_destinations(app) if d[0] == products_topic] == [
        (products_topic, "MUG-1")
    ] * 4
    assert published[1].payload == {
        "sku": "MUG-1",
        "version": 2,
        "name": "Red mug",
        "description": "A mug",
        "category": "kitchen",
        "price_cents": 1200,
        "attributes": {"colour": "blue"},
        "stock_on_hand": 10,
        "stock_reserved": 0,
        "stock_available": 10,
    }
    assert (published[2].payload["reason"], published[2].payload["stock_on_hand"]) == (
        "RESTOCKED",
        11,
    )


def test_a_refused_write_publishes_nothing(app, client):
    new_product(client)
    new_product(client)
    client.patch("/products/MUG-1", json={}, headers=ADMIN)
    client.post("/products/NOPE/restock", json={"quantity": 1}, headers=ADMIN)
    assert [e.type for e in outbox_events(app)] == ["ProductCreated", "AuditEntry"], (
        "the first create and its audit entry; the refused writes record nothing"
    )


def test_every_admin_write_is_audited_in_its_own_transaction(app, client, shop_topics):
    new_product(client)
    client.patch("/products/MUG-1", json={"name": "Red mug"}, headers=ADMIN)
    client.post("/products/MUG-1/restock", json={"quantity": 3}, headers=ADMIN)
    client.delete("/products/MUG-1", headers=ADMIN)
    entries = [e.payload for e in outbox_events(app, "OperatorAction")]
    assert [(e["action"], e["target"], e["detail"]) for e in entries] == [
        ("product.create", "MUG-1", "price 1200 cents, stock 10"),
        ("product.update", "MUG-1", '{"name": "Red mug"}'),
        ("product.restock", "MUG-1", "+3 units"),
        ("product.delete", "MUG-1", ""),
    ]
    assert {e["actor"] for e in entries} == {"inventory-service:admin@127.0.0.1"}
    audit_topic = shop_topics.qualify("operator.audit")
    assert [d for d in outbox_destinations(app) if d[0] == audit_topic] == [
        (audit_topic, "MUG-1")
    ] * 4


def test_health_readiness_and_openapi(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    paths = client.get("/openapi.json").json["paths"]
    assert {"/products", "/products/{sku}", "/products/{sku}/restock"} <= set(paths)
    assert set(paths["/products/{sku}"]) >= {"get", "patch", "delete"}
