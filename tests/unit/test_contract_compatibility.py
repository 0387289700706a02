"""The compatibility checker on small made-up schemas: within one (type, version) a change may
only add optional fields; removing, retyping or newly requiring a field is breaking."""

from __future__ import annotations

from contracts.compatibility import breaking_changes


def obj(properties: dict, required: tuple[str, ...] = (), **extra) -> dict:
    return {"type": "object", "properties": properties, "required": list(required), **extra}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
V1 = obj({"order_id": STRING, "total_cents": INTEGER}, ("order_id", "total_cents"))


def test_an_identical_schema_is_compatible():
    assert breaking_changes(V1, V1) == []


def test_adding_an_optional_field_is_compatible():
    added = obj({**V1["properties"], "note": STRING}, ("order_id", "total_cents"))
    assert breaking_changes(V1, added) == []


def test_making_a_required_field_optional_is_compatible():
    assert breaking_changes(V1, obj(V1["properties"], ("order_id",))) == []


def test_a_removed_field_is_breaking():
    removed = obj({"order_id": STRING}, ("order_id",))
    assert breaking_changes(V1, removed) == ["total_cents removed"]


def test_a_retyped_field_is_breaking():
    retyped = obj({"order_id": STRING, "total_cents": STRING}, ("order_id", "total_cents"))
    assert breaking_changes(V1, retyped) == ["total_cents retyped: integer -> string"]


def test_a_field_becoming_nullable_is_a_retyping():
    nullable = obj(
        {"order_id": STRING, "total_cents": {"anyOf": [INTEGER, {"type": "null"}]}},
        ("order_id", "total_cents"),
    )
    assert breaking_changes(V1, nullable) == ["total_cents retyped: integer -> integer|null"]


def test_a_new_required_field_is_breaking():
    new_required = obj(
        {**V1["properties"], "currency": STRING}, ("order_id", "total_cents", "currency")
    )
    assert breaking_changes(V1, new_required) == ["currency required (a new field before)"]


def test_an_optional_field_becoming_required_is_breaking():
    old = obj({"order_id": STRING, "note": STRING}, ("order_id",))
    new = obj({"order_id": STRING, "note": STRING}, ("order_id", "note"))
    assert breaking_changes(old, new) == ["note required (an optional field before)"]


def test_changes_inside_nested_objects_behind_refs_and_arrays_are_found():
    def order(line: dict) -> dict:
        return obj(
            {"items": {"type": "array", "items": {"$ref": "#/$defs/Line"}}},
            ("items",),
            **{"$defs": {"Line": line}},
        )

    old = order(obj({"sku": STRING, "quantity": INTEGER}, ("sku", "quantity")))
    new = order(obj({"sku": INTEGER, "price": INTEGER}, ("sku", "price")))
    assert breaking_changes(old, new) == [
        "items[].sku retyped: string -> integer",
        "items[].quantity removed",
        "items[].price required (a new field before)",
    ]


def test_enum_values_have_the_type_of_their_members():
    old = obj({"reason": {"enum": ["OUT_OF_STOCK", "TIMEOUT"]}}, ("reason",))
    assert breaking_changes(old, obj({"reason": {"enum": ["TIMEOUT"]}}, ("reason",))) == []
    assert breaking_changes(old, obj({"reason": {"enum": [1, 2]}}, ("reason",))) == [
        "reason retyped: string -> integer"
    ]
