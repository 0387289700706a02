"""The contracts as documents (`contracts/schemas/*.json`, `contracts/asyncapi.json`): the
committed snapshot is what the code generates, no published (type, version) changed
incompatibly, and the AsyncAPI document names every topic, who sends and who receives it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eventing import topics
from eventing.registry import registry
from shopctl import contract_documents as docs

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = ROOT / "contracts"
REGENERATE = "regenerate it with: .venv/bin/shopctl contracts export --out contracts"


def test_no_published_version_changed_incompatibly_or_vanished():
    problems = docs.incompatible_changes(SNAPSHOT)
    assert problems == [], (
        "a published (type, version) changed incompatibly; keep it, and register the change "
        f"as a new schema_version beside it: {problems}"
    )


def test_the_committed_snapshot_is_what_the_code_generates():
    expected = docs.documents()
    committed = {
        f"{docs.SCHEMAS_FOLDER}/{path.name}": path.read_text()
        for path in (SNAPSHOT / docs.SCHEMAS_FOLDER).glob("*.json")
    }
    asyncapi = SNAPSHOT / docs.ASYNCAPI_FILE
    if asyncapi.is_file():
        committed[docs.ASYNCAPI_FILE] = asyncapi.read_text()
    stale = sorted(
        name
        for name in expected.keys() | committed.keys()
        if expected.get(name) != committed.get(name)
    )
    assert stale == [], f"contracts/ snapshot is stale ({', '.join(stale)}); {REGENERATE}"


def test_there_is_one_schema_per_registered_type_and_version():
    names = {name.removesuffix(".json") for name in docs.json_schemas()}
    assert names == {f"{t}.v{v}" for t, v in registry.types()}
    created = docs.json_schemas()["OrderCreated.v1.json"]
    assert created["x-topic"] == topics.ORDERS and created["x-kafka-key"] == "order_id"
    assert {"order_id", "items", "total_cents"} <= set(created["required"])


def test_every_topic_is_a_channel_and_every_contract_a_message_of_its_topic():
    document = docs.asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    assert set(document["channels"]) == {spec.name for spec in topics.all_topics()}
    for event_type, version in registry.types():
        model = registry.model_for(event_type, version)
        assert f"{event_type}.v{version}" in document["channels"][model.topic]["messages"]


def _resolve(document: dict, ref: str) -> object:
    node: object = document
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(node, dict) and part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    return []


def test_every_reference_in_the_asyncapi_document_resolves():
    document = docs.asyncapi_document()
    for ref in _refs(document):
        if ref.startswith("#/"):
            _resolve(document, ref)
        else:
            assert (SNAPSHOT / ref).is_file(), ref


def test_each_topic_names_who_sends_and_who_receives_it():
    operations = docs.asyncapi_document()["operations"].values()

    def actors(action: str, topic: str) -> set[str]:
        return {
            op["title"].split(f" {action}s ")[0]
            for op in operations
            if op["action"] == action and op["channel"]["$ref"] == f"#/channels/{topic}"
        }

    assert actors("send", topics.ORDERS) == {"order-service"}
    assert actors("receive", topics.ORDERS) == set(), "the order's sagas start with it"
    assert actors("send", topics.INVENTORY_COMMANDS) == {"checkout-saga"}
    assert actors("receive", topics.PRODUCTS) == {"order-service", "search-indexer"}
    for spec in topics.all_topics():
        if spec.name in topics.RETIRED:
            assert not actors("send", spec.name), f"{spec.name} is retired"
        else:
            assert actors("send", spec.name), f"nobody sends to {spec.name}"


def test_messages_carry_their_key_and_trace_headers():
    messages = docs.asyncapi_document()["components"]["messages"]
    created = messages["OrderCreated.v1"]
    assert "order_id" in created["bindings"]["kafka"]["key"]["description"]
    assert {"traceparent", "tracestate"} <= set(created["headers"]["properties"])
    dead = messages["OrderCreated.v1.dead-letter"]["headers"]["properties"]
    assert {"dlq.original.topic", "dlq.error.message", "dlq.attempts"} <= set(dead)


def _export(out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shopctl", "contracts", "export", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_export_writes_the_documents_and_refuses_to_overwrite_a_breaking_change(tmp_path):
    first = _export(tmp_path)
    assert first.returncode == 0, first.stderr
    assert json.loads((tmp_path / "asyncapi.json").read_text())["asyncapi"] == "3.0.0"
    published = tmp_path / "schemas" / "OrderCreated.v1.json"
    schema = json.loads(published.read_text())
    schema["properties"]["total_cents"] = {"type": "string"}  # as if the code had been integer
    published.write_text(json.dumps(schema))

    refused = _export(tmp_path)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "OrderCreated.v1: total_cents retyped: string -> integer" in lines[0]
    assert "new schema_version" in lines[0]
    assert json.loads(published.read_text())["properties"]["total_cents"] == {"type": "string"}


@pytest.mark.parametrize("args", [[], ["--out"]])
def test_export_without_a_folder_is_a_one_line_usage_error(args):
    result = subprocess.run(
        [sys.executable, "-m", "shopctl", "contracts", "export", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
