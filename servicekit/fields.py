"""Field types and limits every API shares, declared once so that validation and `/openapi.json`
say the same thing.

The limits keep every request far below what the stores behind an API accept: a request body is
at most `MAX_BODY_BYTES` (1 MiB, Kafka's default `message.max.bytes`), and the fields of each
model are bounded so that the event a request produces stays a small fraction of that.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

MAX_BODY_BYTES = 1024 * 1024
"""Larger request bodies are refused with a 413 before they are read."""
MAX_JSON_DEPTH = 32
"""Arrays and objects nested deeper than this are refused (422): no model needs more, and
deeper documents only cost recursion in every parser after ours."""
MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTES_BYTES = 16 * 1024

UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")
"""NUL, which PostgreSQL stores in no text or JSONB value, and lone UTF-16 surrogates, which have
no UTF-8 encoding: `"\\u0000"` and `"\\udfff"` are valid JSON, but no store can keep them."""
WITHOUT_NUL = r"^[^\x00]*$"
"""The JSON Schema pattern documenting `UNSTORABLE_TEXT` (a lone surrogate cannot be written in
UTF-8, so a schema has no need to name it)."""


def unstorable_text_reason(text: str) -> str | None:
    """Why `text` cannot be stored, or None when it can."""
    found = UNSTORABLE_TEXT.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "text cannot contain the NUL character"
    return "text cannot contain a lone UTF-16 surrogate (it has no UTF-8 encoding)"


Text = Annotated[str, Field(pattern=WITHOUT_NUL)]
"""Free text. Requests are checked for unstorable characters before validation (see
`servicekit.api`); the pattern tells clients."""


def _whole_number(value: Any) -> Any:
    """JSON has one number type: `5.0` is the integer 5 (as JSON Schema's `integer` says), while
    `5.5`, `true` and `"5"` are not integers and are left for strict validation to refuse."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def whole_number(*, ge: int, le: int) -> tuple[FieldInfo, BeforeValidator]:
    """The rules of an integer from `ge` to `le`, as `Annotated[int, *whole_number(...)]`: a
    type alias the type checker reads as `int`. The bounds come before the conversion in the
    annotation, so they apply to the integer and appear in the JSON schema."""
    return Field(strict=True, ge=ge, le=le), BeforeValidator(_whole_number)


Page = Annotated[int, Field(ge=1, le=MAX_PAGE, description="1 is the first page")]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE, description="items per page")]


def _bounded_json_size(value: dict[str, Any]) -> dict[str, Any]:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"take {size} bytes as JSON, at most {MAX_ATTRIBUTES_BYTES} are allowed")
    return value


AttributeName = Annotated[str, Field(min_length=1, max_length=100)]
_ATTRIBUTE_VALUE_REF = {"$ref": "#/components/schemas/AttributeValue"}
SHARED_SCHEMAS: dict[str, dict[str, Any]] = {
    "AttributeValue": {
        "description": "any JSON value, with no NUL in its strings or keys",
        "anyOf": [
            {"type": "string", "pattern": WITHOUT_NUL},
            {"type": ["number", "boolean", "null"]},
            {"type": "array", "items": _ATTRIBUTE_VALUE_REF},
            {
                "type": "object",
                "propertyNames": {"pattern": WITHOUT_NUL},
                "additionalProperties": _ATTRIBUTE_VALUE_REF,
            },
        ],
    }
}
"""Schemas the field types here refer to; every API's OpenAPI document carries them."""
Attributes = Annotated[
    dict[AttributeName, Any],
    Field(
        max_length=MAX_ATTRIBUTES,
        description=f"free-form JSON, at most {MAX_ATTRIBUTES} keys and "
        f"{MAX_ATTRIBUTES_BYTES} bytes as compact JSON, no NUL in any key or string",
        # Text is checked for NUL before validation (servicekit.api); this tells clients.
        # pydantic would document a key pattern as `patternProperties`, which restricts nothing.
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": WITHOUT_NUL},
            "additionalProperties": _ATTRIBUTE_VALUE_REF,
        },
    ),
    AfterValidator(_bounded_json_size),
]


def _leave_out_null(schema: dict[str, Any]) -> None:
    for name, field_schema in schema.get("properties", {}).items():
        options = [o for o in field_schema.get("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1:
            rest = {k: v for k, v in field_schema.items() if k not in ("anyOf", "default")}
            schema["properties"][name] = {**options[0], **rest}
    schema["minProperties"] = 1


class Patch(BaseModel):
    """A partial update: at least one field, each left out to keep its value. null is not a
    value (the schema does not offer it, and validation refuses it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_leave_out_null)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave the field out to keep its value; null is not a value")
        return value

    @model_validator(mode="after")
    def _something(self) -> Patch:
        if not self.model_fields_set:
            raise ValueError(f"change at least one of {', '.join(type(self).model_fields)}")
        return self


class BlankIsAbsent(BaseModel):
    """A query whose blank parameters (`?category=&page=`) mean "not given": the default.

    `servicekit.api` documents its optional parameters with `allowEmptyValue`."""

    blank_is_absent: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _drop_blank(cls, values: Any) -> Any:
        if isinstance(values, dict):
            return {key: value for key, value in values.items() if value != ""}
        return values
