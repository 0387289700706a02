"""Is a contract's new JSON Schema backward compatible with the one it replaces?

A published (type, version) is a promise: messages of it sit in topics for their retention and
are replayed into restored databases, and consumers deployed earlier read what newer producers
write. So within one version, a change may only add optional fields (or loosen a value's
bounds); anything else must be a new version. This module finds, on two JSON Schemas as pydantic
writes them (local `$ref`s into `$defs`), the changes that break that promise:

- a field removed (old messages or old consumers still carry or expect it);
- a field retyped (its set of JSON types changed: `integer` to `string`, a value becoming
  nullable or no longer nullable, an object becoming an array);
- a field newly required (a message written before the change lacks it).

Pure: no I/O. Bounds, patterns and enum members are not compared (a tightened bound can
break too; review catches what this does not).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every backward-incompatible difference from `old` to `new`, one readable line each."""
    problems: list[str] = []
    _compare(_Document(old), old, _Document(new), new, "", problems)
    return problems


class _Document:
    """A schema document, for resolving the local `$ref`s in it."""

    def __init__(self, root: Schema):
        self.root = root

    def resolve(self, schema: Schema) -> Schema:
        seen = set()
        while isinstance(schema.get("$ref"), str):
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                raise ValueError(f"cannot resolve $ref {ref!r}")
            seen.add(ref)
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target[part]
            schema = target
        return schema


def _json_types(document: _Document, schema: Schema) -> frozenset[str]:
    """The JSON types a value of this schema may have; "any" when it says none."""
    schema = document.resolve(schema)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return frozenset().union(*(_json_types(document, part) for part in schema[union]))
    if "type" in schema:
        declared = schema["type"]
        types = {declared} if isinstance(declared, str) else set(declared)
        # A JSON integer is a number too, but a consumer expecting one does not take the other.
        return frozenset(types)
    values = schema.get("enum") or ([schema["const"]] if "const" in schema else None)
    if values is not None:
        return frozenset(_type_of(value) for value in values)
    return frozenset({"any"})


def _type_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _members(document: _Document, schema: Schema) -> list[Schema]:
    """The schema itself, or the resolved alternatives of a union (e.g. `X | None`)."""
    schema = document.resolve(schema)
    for union in ("anyOf", "oneOf"):
        if union in schema:
            return [m for part in schema[union] for m in _members(document, part)]
    return [schema]


def _compare(
    old_doc: _Document, old: Schema, new_doc: _Document, new: Schema, path: str, problems: list
) -> None:
    old_types, new_types = _json_types(old_doc, old), _json_types(new_doc, new)
    where = path or "the message"
    if old_types != new_types and "any" not in new_types:
        problems.append(
            f"{where} retyped: {'|'.join(sorted(old_types))} -> {'|'.join(sorted(new_types))}"
        )
        return
    old_objects = [m for m in _members(old_doc, old) if "properties" in m]
    new_objects = [m for m in _members(new_doc, new) if "properties" in m]
    if old_objects and new_objects:
        _compare_objects(old_doc, old_objects[0], new_doc, new_objects[0], path, problems)
    old_items = [m["items"] for m in _members(old_doc, old) if isinstance(m.get("items"), dict)]
    new_items = [m["items"] for m in _members(new_doc, new) if isinstance(m.get("items"), dict)]
    if old_items and new_items:
        _compare(old_doc, old_items[0], new_doc, new_items[0], f"{path}[]", problems)


def _compare_objects(
    old_doc: _Document, old: Schema, new_doc: _Document, new: Schema, path: str, problems: list
) -> None:
    old_fields, new_fields = old["properties"], new["properties"]
    prefix = f"{path}." if path else ""
    for name, old_field in old_fields.items():
        if name not in new_fields:
            problems.append(f"{prefix}{name} removed")
            continue
        _compare(old_doc, old_field, new_doc, new_fields[name], f"{prefix}{name}", problems)
    newly_required = set(new.get("required", ())) - set(old.get("required", ()))
    for name in sorted(newly_required):
        was = "an optional field" if name in old_fields else "a new field"
        problems.append(f"{prefix}{name} required ({was} before)")
