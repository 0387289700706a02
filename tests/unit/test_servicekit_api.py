"""The HTTP plumbing every service shares: problem+json errors, admin auth, OpenAPI."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from servicekit.api import Api, HeaderParam
from servicekit.app import create_service_app
from servicekit.problems import not_found


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    quantity: int = Field(ge=1)


class Thing(BaseModel):
    id: str
    name: str
    quantity: int


class Paging(BaseModel):
    page: int = Field(default=1, ge=1)


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

    app = create_service_app(api, {"database": failing_check})
    return app.test_client()


ADMIN = {"Authorization": "Bearer secret"}


def test_a_valid_admin_request_gets_the_handlers_status_headers_and_body(client):
    response = client.post("/things", json={"name": "a", "quantity": 2}, headers=ADMIN)
    assert response.status_code == 201
    assert response.headers["Location"] == "/things/t1"
    assert response.json == {"id": "t1", "name": "a", "quantity": 2}


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
    assert {"201", "400", "401", "403", "422"} <= set(post["responses"])
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    assert "/things/{thing_id}" in document["paths"]
    assert {"/healthz", "/readyz"} <= set(document["paths"])
    assert {"NewThing", "Thing", "ProblemDocument"} <= set(document["components"]["schemas"])
