"""The message contracts as documents, generated from the code: one JSON Schema per event or
command type and version (`schemas/<Type>.v<N>.json`), and an AsyncAPI 3.0 document of the
topics (`asyncapi.json`): each topic's messages, keys, headers, partitions and retention, and
which service publishes and which consumer group consumes it.

`shopctl contracts export --out DIR` writes them; the committed snapshot in `contracts/` is
kept current, and each (type, version) backward compatible, by
`tests/unit/test_contract_documents.py`. Building the documents is pure; only
`write_documents` touches the disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

import contracts  # noqa: F401  (registers every message type)
from contracts.compatibility import breaking_changes
from eventing import dead_letter_headers as dlq
from eventing import topics
from eventing.envelope import Envelope
from eventing.registry import Event, registry
from servicekit.registry import load, workers

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMAS_FOLDER = "schemas"
ASYNCAPI_FILE = "asyncapi.json"

#: Who writes each topic. The services publish their own events through their outbox; the saga
#: orchestrator (consumer group `checkout-saga`) sends the participants' commands, and approves,
#: rejects and cancels orders as local steps in the order service's database (their events go
#: out through the order service's outbox); operators' actions are recorded by `shopctl` and
#: the console. The retired topics (`topics.RETIRED`) have no writer.
PUBLISHERS: dict[str, tuple[str, ...]] = {
    topics.PRODUCTS: ("inventory-service",),
    topics.RESERVATIONS: ("inventory-service",),
    topics.INVENTORY_COMMANDS: ("checkout-saga",),
    topics.PAYMENTS: ("payment-service",),
    topics.PAYMENT_COMMANDS: ("checkout-saga",),
    topics.ORDERS: ("order-service",),
    **dict.fromkeys(topics.RETIRED, ()),
    topics.OPERATOR_AUDIT: ("shopctl", "console"),
}

TRACE_HEADERS: dict[str, Any] = {
    "traceparent": {
        "type": "string",
        "description": "W3C trace context of the change that wrote the message",
    },
    "tracestate": {"type": "string", "description": "W3C trace state, when there is one"},
}


#: The headers a consumer group adds to a dead letter, read from the function that adds them.
_DEAD_LETTER_HEADER_NAMES = tuple(
    dlq.dead_letter_headers(
        headers={}, topic="", partition=0, offset=0, group_id="", error=Exception(), attempts=1
    )
)


class ContractsExportError(Exception):
    """The documents cannot be written (one readable line)."""


@dataclass(frozen=True)
class Subscription:
    group: str
    topics: tuple[str, ...]


def subscriptions() -> list[Subscription]:
    """Each consumer group and the topics it consumes, read from the deployables' own
    declarations, in the registry's order."""
    return [
        Subscription(deployable.consumer_group, deployable.topics)
        for deployable in (load(entry) for entry in workers() if entry.declares_deployable)
    ]


def schema_name(model: type[Event]) -> str:
    return f"{model.event_type}.v{model.schema_version}"


def contract_models() -> list[type[Event]]:
    return [registry.model_for(event_type, version) for event_type, version in registry.types()]


def json_schema(model: type[Event]) -> dict[str, Any]:
    """The payload's JSON Schema, as consumers validate it, with where the message travels."""
    schema = model.model_json_schema(mode="validation")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:eventshop:contract:{model.event_type}:v{model.schema_version}",
        **schema,
        "x-event-type": model.event_type,
        "x-schema-version": model.schema_version,
        "x-topic": model.topic,
        "x-aggregate-type": model.aggregate_type,
        "x-kafka-key": model.aggregate_key,
    }


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name under `schemas/` -> schema, for every registered (type, version)."""
    return {f"{schema_name(model)}.json": json_schema(model) for model in contract_models()}


def _envelope_schema(model: type[Event]) -> dict[str, Any]:
    envelope = Envelope.model_json_schema(mode="validation")
    properties = dict(envelope["properties"])
    properties["type"] = {"const": model.event_type}
    properties["schema_version"] = {"const": model.schema_version}
    properties["aggregate_type"] = {"const": model.aggregate_type}
    properties["payload"] = {"$ref": f"./{SCHEMAS_FOLDER}/{schema_name(model)}.json"}
    return {**envelope, "title": f"{schema_name(model)} envelope", "properties": properties}


def _message(model: type[Event], *, dead_letter: bool) -> dict[str, Any]:
    headers = dict(TRACE_HEADERS)
    if dead_letter:
        headers |= {
            name: {"type": "string", "description": "why and from where it was dead-lettered"}
            for name in (*_DEAD_LETTER_HEADER_NAMES, dlq.OUTBOX_PARKED_EVENT_ID)
        }
    summary = (model.__dict__.get("__doc__") or "").strip().splitlines()
    return {
        "name": model.event_type,
        "title": f"{model.event_type} v{model.schema_version}",
        **({"summary": summary[0]} if summary else {}),
        "contentType": "application/json",
        "headers": {"type": "object", "properties": headers},
        "payload": _envelope_schema(model),
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": f"the {model.aggregate_type}'s {model.aggregate_key}",
                },
                "bindingVersion": "0.5.0",
            }
        },
    }


def asyncapi_document() -> dict[str, Any]:
    """Every topic of `eventing/topics.py` as a channel, with who sends and who receives it."""
    models_by_topic: dict[str, list[type[Event]]] = {}
    for model in contract_models():
        models_by_topic.setdefault(model.topic, []).append(model)
    consumers: dict[str, list[str]] = {}
    for subscription in subscriptions():
        for topic in subscription.topics:
            consumers.setdefault(topic, []).append(subscription.group)

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in topics.all_topics():
        original = spec.name.removesuffix(topics.DLQ_SUFFIX)
        dead_letter = spec.name != original
        channel_messages = {}
        for model in models_by_topic.get(original, []):
            message_id = f"{schema_name(model)}{'.dead-letter' if dead_letter else ''}"
            messages[message_id] = _message(model, dead_letter=dead_letter)
            channel_messages[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        if spec.name == topics.OPERATOR_AUDIT:
            messages["AuditEntry"] = {
                "name": "AuditEntry",
                "contentType": "application/json",
                "payload": _audit_entry_schema(),
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": "what was acted on"},
                        "bindingVersion": "0.5.0",
                    }
                },
            }
            channel_messages["AuditEntry"] = {"$ref": "#/components/messages/AuditEntry"}
            messages["AuditEntry.envelope"] = _audit_envelope_message()
            channel_messages["AuditEntry.envelope"] = {
                "$ref": "#/components/messages/AuditEntry.envelope"
            }
        channel_ref = {"$ref": f"#/channels/{spec.name}"}
        channels[spec.name] = {
            "address": spec.name,
            "description": _channel_description(spec.name, original, dead_letter),
            "messages": channel_messages,
            "bindings": {
                "kafka": {
                    "partitions": spec.partitions,
                    "replicas": spec.replication_factor,
                    "topicConfiguration": _topic_configuration(spec.config),
                    "bindingVersion": "0.5.0",
                }
            },
        }
        message_refs = [
            {"$ref": f"#/channels/{spec.name}/messages/{message_id}"}
            for message_id in channel_messages
        ]
        senders = (
            [f"{group} (dead letters)" for group in consumers.get(original, [])] + ["outbox relays"]
            if dead_letter
            else list(PUBLISHERS.get(spec.name, ()))
        )
        for sender in senders:
            operations[_operation_id(sender, "send", spec.name)] = {
                "action": "send",
                "channel": channel_ref,
                "title": f"{sender} sends to {spec.name}",
                "messages": message_refs,
            }
        receivers = ["shopctl dlq"] if dead_letter else consumers.get(spec.name, [])
        for receiver in receivers:
            operation: dict[str, Any] = {
                "action": "receive",
                "channel": channel_ref,
                "title": f"{receiver} receives from {spec.name}",
                "messages": message_refs,
            }
            if not dead_letter:
                operation["bindings"] = {
                    "kafka": {
                        "groupId": {"type": "string", "const": receiver},
                        "bindingVersion": "0.5.0",
                    }
                }
            operations[_operation_id(receiver, "receive", spec.name)] = operation

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "eventshop messaging",
            "version": "1.0.0",
            "description": (
                "Every Kafka topic of the shop. Each message is a JSON envelope whose `payload` "
                "is validated by the JSON Schema of its (type, schema_version), and whose Kafka "
                "key is its aggregate's id, so one aggregate's messages stay in order. Generated "
                "by `shopctl contracts export`."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the local stack (`make up`)",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _audit_entry_schema() -> dict[str, Any]:
    from shopctl.audit import AuditEntry

    return TypeAdapter(AuditEntry).json_schema()


def _audit_envelope_message() -> dict[str, Any]:
    """An API's admin write, recorded through its outbox: an envelope carrying the entry."""
    from servicekit.audit import ENVELOPE_TYPE

    envelope = Envelope.model_json_schema(mode="validation")
    properties = dict(envelope["properties"])
    properties["type"] = {"const": ENVELOPE_TYPE}
    properties["aggregate_type"] = {"const": "OperatorAction"}
    properties["payload"] = _audit_entry_schema()
    return {
        "name": "AuditEntry.envelope",
        "summary": "An API's admin write, recorded in the same transaction through its outbox",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": dict(TRACE_HEADERS)},
        "payload": {**envelope, "title": "AuditEntry envelope", "properties": properties},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "what was acted on"},
                "bindingVersion": "0.5.0",
            }
        },
    }


def _channel_description(name: str, original: str, dead_letter: bool) -> str:
    if dead_letter:
        return (
            f"Dead letters of {original}: messages a consumer group could not apply, with "
            "`dlq.*` headers saying why and from where, and stubs of outbox rows parked as "
            "unpublishable. `shopctl dlq redrive` sends them back."
        )
    if name == topics.OPERATOR_AUDIT:
        return "What operators did (saga retries, redrives, discards), in order."
    return f"Messages of {name}, keyed by their aggregate's id."


def _topic_configuration(config: dict[str, str]) -> dict[str, Any]:
    converted: dict[str, Any] = {}
    for key, value in config.items():
        converted[key] = value.split(",") if key == "cleanup.policy" else int(value)
    return converted


def _operation_id(actor: str, action: str, topic: str) -> str:
    slug = "".join(c if c.isalnum() or c in ".-_" else "-" for c in actor).strip("-")
    return f"{slug}.{action}.{topic}".replace("--", "-")


def render(document: dict[str, Any]) -> str:
    """One stable text form, so the committed snapshot diffs cleanly."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def documents() -> dict[str, str]:
    """Relative path -> text of every document the export writes."""
    files = {f"{SCHEMAS_FOLDER}/{name}": render(schema) for name, schema in json_schemas().items()}
    files[ASYNCAPI_FILE] = render(asyncapi_document())
    return files


def incompatible_changes(out: Path) -> list[str]:
    """What the code changed incompatibly in a (type, version) already written under `out`."""
    schemas = json_schemas()
    problems = [
        f"{existing.stem}: no longer registered"
        for existing in sorted((out / SCHEMAS_FOLDER).glob("*.json"))
        if existing.name not in schemas
    ]
    for name, schema in schemas.items():
        existing = out / SCHEMAS_FOLDER / name
        if existing.is_file():
            old = json.loads(existing.read_text())
            problems += [
                f"{name.removesuffix('.json')}: {p}" for p in breaking_changes(old, schema)
            ]
    return problems


def write_documents(out: Path) -> list[Path]:
    """Write every document under `out`.

    Refuses to overwrite a (type, version) with an incompatible change, or to drop one: that
    must be a new version (a new model with `schema_version = N + 1`, registered beside the old
    one), so what is in the topics stays readable.
    """
    problems = incompatible_changes(out)
    if problems:
        raise ContractsExportError(
            f"backward-incompatible change to a published version ({'; '.join(problems)}): "
            "add a new schema_version instead"
        )
    files = documents()
    try:
        (out / SCHEMAS_FOLDER).mkdir(parents=True, exist_ok=True)
        written = []
        for relative, text in files.items():
            path = out / relative
            path.write_text(text)
            written.append(path)
    except OSError as error:
        raise ContractsExportError(f"cannot write to {out}: {error.strerror or error}") from error
    return written
