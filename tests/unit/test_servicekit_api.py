"""The HTTP plumbing every service shares: problem+json errors, admin auth, OpenAPI, and what
it refuses before any model sees a request (unstorable text, deep JSON, large bodies)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from servicekit.api import Api, HeaderParam
from servicekit.app import create_service_app
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.fields import MAX_BODY_BYTES, MAX_JSON_DEPTH, Text, whole_number
from servicekit.problems import not_found
from testkit.tokens import TokenIssuer

Quantity = Annotated[int, *whole_number(ge=1, le=1000)]


class NewThing(BaseModel):
    name: Text = Field(min_length=1)
    quantity: Quantity
    extra: Any = None


class Thing(BaseModel):
    id: str
    name: str
    quantity: int


class Paging(BaseModel):
    page: int = Field(default=1, ge=1)


class Words(BaseModel):
    words: Text = ""


def failing_check() -> None:
    raise ConnectionError("database down")


@pytest.fixture
def client():
    api = Api("things", "Things", admin_token=lambda: "secret")

    @api.operation(
        "POST",
        "/things",
        summary="Create",
        body=NewThing,
        responses={201: Thing},
        admin=True,
        headers=[HeaderParam("Idempotency-Key", "dedupe key", required=True)],
    )
    def create_thing(body: NewThing):
        return Thing(id="t1", **body.model_dump()), 201, {"Location": "/things/t1"}

    @api.operation("GET", "/things/<thing_id>", summary="Read", responses={200: Thing, 404: None})
    def get_thing(thing_id: str):
        raise not_found("thing", thing_id)

    @api.operation("GET", "/things", summary="List", query=Paging, responses={200: None})
    def list_things(query: Paging):
        return {"page": query.page}

    @api.operation("GET", "/search", summary="Search", query=Words, responses={200: None})
    def search_things(query: Words):
        return {"words": query.words}

    app = create_service_app(api, {"database": failing_check})
    return app.test_client()


ADMIN = {"Authorization": "Bearer secret", "Idempotency-Key": "key-1"}


def post_raw(client, body: str):
    return client.post("/things", data=body, content_type="application/json", headers=ADMIN)


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    return response.json


def test_a_valid_admin_request_gets_the_handlers_status_headers_and_body(client):
    response = client.post("/things", json={"name": "a", "quantity": 2}, headers=ADMIN)
    assert response.status_code == 201
    assert response.headers["Location"] == "/things/t1"
    assert response.json == {"id": "t1", "name": "a", "quantity": 2}


def test_a_json_number_without_a_fraction_is_an_integer_and_one_with_a_fraction_is_not(client):
    assert client.post("/things", json={"name": "a", "quantity": 2.0}, headers=ADMIN).json == {
        "id": "t1",
        "name": "a",
        "quantity": 2,
    }
    for not_an_integer in (2.5, "2", True):
        body = {"name": "a", "quantity": not_an_integer}
        assert problem(client.post("/things", json=body, headers=ADMIN), 422)["errors"][0] == {
            "field": "quantity",
            "message": "Input should be a valid integer",
        }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ('{"name": "a\\u0000b", "quantity": 1}', "name", "NUL"),
        ('{"name": "\\udfff", "quantity": 1}', "name", "surrogate"),
        ('{"name": "a", "quantity": 1, "extra": {"k": ["x", "\\u0000"]}}', "extra.k.1", "NUL"),
        ('{"name": "a", "quantity": 1, "extra": {"a\\u0000": 1}}', "extra.a\x00", "key"),
    ],
)
def test_text_no_store_can_keep_is_a_422_naming_the_field(client, body, field, message):
    errors = problem(post_raw(client, body), 422)["errors"]
    assert errors[0]["field"] == field
    assert message in errors[0]["message"]


def test_a_nul_in_a_query_parameter_is_a_422_naming_it(client):
    errors = problem(client.get("/search?words=a%00b"), 422)["errors"]
    assert errors == [{"field": "query.words", "message": "text cannot contain the NUL character"}]


def test_a_nul_in_a_path_segment_names_no_resource(client):
    assert "NUL" in problem(client.get("/things/a%00b"), 404)["detail"]


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 100_000])
def test_json_nested_deeper_than_the_limit_is_a_422(client, depth):
    as_body = "[" * depth + "]" * depth
    assert "nested" in problem(post_raw(client, as_body), 422)["errors"][0]["message"]
    inside = '{"name": "a", "quantity": 1, "extra": ' + as_body + "}"
    assert "nested" in problem(post_raw(client, inside), 422)["errors"][0]["message"]


def test_json_nested_up_to_the_limit_reaches_validation(client):
    depth = MAX_JSON_DEPTH - 1  # the body object is the first level
    inside = '{"name": "a", "quantity": 1, "extra": ' + "[" * depth + "]" * depth + "}"
    assert post_raw(client, inside).status_code == 201


def test_a_body_over_the_limit_is_a_413_problem(client):
    body = json.dumps({"name": "a", "quantity": 1, "extra": "x" * MAX_BODY_BYTES})
    assert problem(post_raw(client, body), 413)["status"] == 413


def test_a_405_names_the_allowed_methods(client):
    response = client.put("/things")
    problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("key", [None, "", " padded ", "k" * 201, "caf\u00e9"])
def test_a_declared_header_missing_or_invalid_is_a_400(client, key):
    headers = {"Authorization": ADMIN["Authorization"]}
    if key is not None:
        headers["Idempotency-Key"] = key
    response = client.post("/things", json={"name": "a", "quantity": 1}, headers=headers)
    assert "Idempotency-Key" in problem(response, 400)["detail"]


def test_malformed_json_is_a_400_problem(client):
    response = client.post("/things", data="{nope", content_type="application/json", headers=ADMIN)
    assert response.status_code == 400
    assert response.content_type == "application/problem+json"
    assert set(response.json) == {"type", "title", "status", "detail"}


def test_invalid_values_are_a_422_naming_each_field(client):
    response = client.post("/things", json={"name": "", "quantity": 0}, headers=ADMIN)
    assert response.status_code == 422
    assert {e["field"] for e in response.json["errors"]} == {"name", "quantity"}


def test_an_invalid_query_parameter_is_a_422(client):
    response = client.get("/things?page=zero")
    assert response.status_code == 422
    assert response.json["errors"][0]["field"] == "query.page"


def test_a_missing_admin_token_is_401_and_a_wrong_one_403(client):
    assert client.post("/things", json={"name": "a", "quantity": 1}).status_code == 401
    wrong = client.post(
        "/things", json={"name": "a", "quantity": 1}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 403


def test_unknown_resources_and_routes_are_404_problems(client):
    assert client.get("/things/x").json["status"] == 404
    response = client.get("/no-such-route")
    assert (response.status_code, response.content_type) == (404, "application/problem+json")


def test_readiness_is_503_naming_the_failing_dependency(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "database" in response.json["detail"]
    assert client.get("/healthz").status_code == 200


def test_openapi_documents_every_route_with_its_schemas(client):
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    post = document["paths"]["/things"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("NewThing")
    assert {"201", "400", "401", "403", "413", "422", "503"} <= set(post["responses"])
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    assert post["parameters"][0]["schema"]["maxLength"] == 200
    assert {"404", "503"} <= set(document["paths"]["/things/{thing_id}"]["get"]["responses"])
    assert "/things/{thing_id}" in document["paths"]
    assert {"/healthz", "/readyz"} <= set(document["paths"])
    assert {"NewThing", "Thing", "ProblemDocument"} <= set(document["components"]["schemas"])


def _service_documents() -> dict[str, dict]:
    from inventory_service.api import build_api as inventory_api
    from order_service.api import OrderRateLimit
    from order_service.api import build_api as order_api
    from payment_service.api import build_api as payment_api
    from search_indexer.api import build_app as search_app
    from search_indexer.config import Settings
    from search_indexer.index import ProductIndex, client

    verifier = CustomerTokenVerifier.from_settings(TokenIssuer.create().settings())

    def never_called():  # building a document opens no unit of work
        raise AssertionError("no unit of work is needed")

    def never_started(uow, event):  # nor starts a saga
        raise AssertionError("no saga is started")

    search = search_app(Settings(), ProductIndex(client("http://127.0.0.1:1"), "unused"))
    return {
        "inventory": inventory_api(never_called, lambda: "token").openapi(),
        "order": order_api(
            never_called, lambda: "token", verifier, OrderRateLimit(60, 60), never_started
        ).openapi(),
        "payment": payment_api(never_called, lambda: "token", verifier).openapi(),
        "search": search.test_client().get("/openapi.json").json,
    }


def _refs(node: object) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node))
    return set()


@pytest.mark.parametrize("service", ["inventory", "order", "payment", "search"])
def test_every_schema_a_services_openapi_refers_to_is_in_it(service):
    document = _service_documents()[service]
    names = {ref.removeprefix("#/components/schemas/") for ref in _refs(document)}
    assert names <= set(document["components"]["schemas"])


def test_every_operation_documents_503_and_every_operation_with_a_body_413():
    for document in _service_documents().values():
        for path, operations in document["paths"].items():
            if path in ("/healthz", "/readyz", "/docs"):
                continue
            for method, operation in operations.items():
                assert "503" in operation["responses"], (method, path)
                if "requestBody" in operation:
                    assert "413" in operation["responses"], (method, path)
