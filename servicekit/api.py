"""Declared API operations: pydantic validation in, pydantic models out, and the OpenAPI 3
document generated from the same declarations, so `/openapi.json` cannot drift from the routes.

    api = Api("inventory-service", "Products and stock")

    @api.operation("POST", "/products", summary="Create a product", body=NewProduct,
                   responses={201: ProductOut, 409: "the sku exists"}, admin=True)
    def create_product(body: NewProduct) -> tuple[ProductOut, int]: ...

Malformed JSON is a 400, a body or query that fails validation a 422 naming each field, a
missing or wrong admin token a 401 or 403: all as problem+json (see `problems`). An operation
declared `customer=True` needs a customer token (`servicekit.customer_tokens`) or the admin
token, and its handler gets the `caller` (a 401 with `WWW-Authenticate` otherwise).
Before any model sees a request, its body, query and path are checked for what no store can
keep (NUL, lone surrogates) and for JSON nested deeper than `MAX_JSON_DEPTH`; a body over
`MAX_BODY_BYTES` is a 413 (`servicekit.app` sets Flask's limit). `/openapi.json` lists every
status a route can answer.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint, Response, json, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from servicekit.customer_tokens import (
    CustomerTokenVerifier,
    InvalidCustomerToken,
    KeysUnavailable,
)
from servicekit.fields import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    SHARED_SCHEMAS,
    unstorable_text_reason,
)
from servicekit.problems import (
    PROBLEM_JSON,
    FieldError,
    Problem,
    ProblemDocument,
    validation_problem,
)

_CONVERTER = re.compile(r"<(?:[a-z_]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or a header missing or invalid",
    401: "Missing admin credentials",
    403: "Wrong admin credentials",
    404: "Unknown resource",
    409: "Conflict",
    413: f"The body is larger than {MAX_BODY_BYTES} bytes",
    422: "Invalid values",
    429: "Too many requests (Retry-After says when to try again)",
    503: "A dependency is briefly unavailable; retry (Retry-After)",
}
_MAX_FIELD_ERRORS = 20
HEADER_VALUE = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"
"""Printable ASCII, not starting or ending with a space (servers strip those)."""
_HEADER_VALUE = re.compile(HEADER_VALUE)
_CUSTOMER_401 = "No customer token, or one that is malformed, expired or signed by another key"
_CUSTOMER_403 = "The token may not do this (e.g. a customer_id that is not its sub)"


@dataclass(frozen=True)
class Caller:
    """Who sent a request to a customer operation: a customer (their id, the token's `sub`) or
    the admin (`customer_id` None), who may read every customer's resources."""

    customer_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.customer_id is None

    def may_see(self, owner: str) -> bool:
        return self.is_admin or owner == self.customer_id

    def require_customer(self, action: str) -> str:
        """The customer's id; a 403 for the admin, whose token reads but acts for no one."""
        if self.customer_id is None:
            raise Problem(403, "Forbidden", f"{action} needs a customer token")
        return self.customer_id


ADMIN_CALLER = Caller(customer_id=None)


@dataclass(frozen=True)
class HeaderParam:
    name: str
    description: str
    required: bool = False
    max_length: int = 200

    def schema(self) -> dict[str, Any]:
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": HEADER_VALUE,
        }

    def check(self) -> None:
        """A 400 when the request's header is missing (if required) or not a valid value."""
        value = request.headers.get(self.name)
        if value is None and not self.required:
            return
        if value is None or len(value) > self.max_length or not _HEADER_VALUE.match(value):
            requirement = "is required" if self.required else "must be"
            raise Problem(
                400,
                "Bad Request",
                f"the {self.name} header {requirement} 1 to {self.max_length} printable "
                f"ASCII characters: {self.description}",
            )


@dataclass
class Operation:
    method: str
    rule: str
    summary: str
    handler: Callable[..., Any]
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: dict[int, type[BaseModel] | str | None] = field(default_factory=dict)
    admin: bool = False
    headers: tuple[HeaderParam, ...] = ()
    description: str = ""
    customer: bool = False

    @property
    def openapi_path(self) -> str:
        return _CONVERTER.sub(r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return _CONVERTER.findall(self.rule)


class Api:
    def __init__(
        self,
        name: str,
        title: str,
        *,
        version: str = "1.0.0",
        admin_token: Callable[[], str] | None = None,
        customer_tokens: CustomerTokenVerifier | None = None,
        description: str = "",
    ):
        self.name = name
        self.title = title
        self.version = version
        self.description = description
        self.admin_token = admin_token
        self.customer_tokens = customer_tokens
        self.operations: list[Operation] = []
        self.blueprint = Blueprint(name.replace("-", "_"), __name__)

    def operation(
        self,
        method: str,
        rule: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        responses: dict[int, type[BaseModel] | str | None],
        admin: bool = False,
        customer: bool = False,
        headers: Iterable[HeaderParam] = (),
        description: str = "",
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """`admin`: the admin token only. `customer`: a customer token or the admin token; the
        handler gets `caller`."""

        def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
            operation = Operation(
                method.upper(),
                rule,
                summary,
                handler,
                body,
                query,
                dict(responses),
                admin,
                tuple(headers),
                description,
                customer,
            )
            self.operations.append(operation)

            @wraps(handler)
            def view(**path: Any) -> Response:
                arguments: dict[str, Any] = {}
                if operation.admin:
                    self._authorize()
                if operation.customer:
                    arguments["caller"] = self._caller()
                _check_path(path)
                for header in operation.headers:
                    header.check()
                arguments.update(path)
                if operation.body is not None:
                    arguments["body"] = _parse_body(operation.body)
                if operation.query is not None:
                    arguments["query"] = _parse_query(operation.query)
                return _to_response(handler(**arguments))

            self.blueprint.add_url_rule(rule, handler.__name__, view, methods=[operation.method])
            return handler

        return decorate

    def _authorize(self) -> None:
        token = _bearer_token("admin", "this operation needs an admin bearer token")
        if not self._is_admin_token(token):
            raise Problem(403, "Forbidden", "the bearer token is not an admin token")

    def _is_admin_token(self, token: str) -> bool:
        expected = self.admin_token() if self.admin_token else ""
        return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())

    def _caller(self) -> Caller:
        token = _bearer_token("customer", "this operation needs a customer bearer token")
        if self._is_admin_token(token):
            return ADMIN_CALLER
        if self.customer_tokens is None:
            raise _unauthorized("customer", "this service verifies no customer tokens")
        try:
            return Caller(customer_id=self.customer_tokens.customer_id(token))
        except InvalidCustomerToken as error:
            raise _unauthorized("customer", str(error), error="invalid_token") from None
        except KeysUnavailable as error:
            raise Problem(
                503,
                "Service Unavailable",
                f"the customer token cannot be checked now: {error}",
                headers={"Retry-After": "5"},
            ) from None

    def openapi(self, extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
        models: set[type[BaseModel]] = {ProblemDocument}
        for operation in self.operations:
            models.update(m for m in (operation.body, operation.query) if m is not None)
            models.update(m for m in operation.responses.values() if isinstance(m, type))
        _, schema = models_json_schema(
            [(model, "validation") for model in sorted(models, key=lambda m: m.__name__)],
            ref_template="#/components/schemas/{model}",
        )
        paths: dict[str, Any] = dict(extra_paths or {})
        for operation in self.operations:
            paths.setdefault(operation.openapi_path, {})[operation.method.lower()] = (
                self._operation_document(operation)
            )
        document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {
                "schemas": schema.get("$defs", {}) | SHARED_SCHEMAS,
                "securitySchemes": {
                    "adminToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "the shop's admin token (ADMIN_TOKEN)",
                    },
                    "customerToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "JWT",
                        "description": "a signed customer token: its sub is the customer id",
                    },
                },
            },
        }
        return document

    def _operation_document(self, operation: Operation) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in operation.path_params
        ]
        if operation.query is not None:
            blank_is_absent = getattr(operation.query, "blank_is_absent", False)
            properties = operation.query.model_json_schema()["properties"]
            for name, info in operation.query.model_fields.items():
                parameter = {
                    "name": info.alias or name,
                    "in": "query",
                    "required": info.is_required(),
                    "description": info.description or "",
                    "schema": properties[info.alias or name],
                }
                if blank_is_absent and not info.is_required():
                    parameter["allowEmptyValue"] = True
                parameters.append(parameter)
        parameters.extend(
            {
                "name": h.name,
                "in": "header",
                "required": h.required,
                "description": h.description,
                "schema": h.schema(),
            }
            for h in operation.headers
        )
        responses: dict[str, Any] = {}
        for status, model in sorted(operation.responses.items()):
            responses[str(status)] = _response_document(status, model, customer=operation.customer)
        for status in _implied_statuses(operation):
            responses.setdefault(
                str(status), _response_document(status, None, customer=operation.customer)
            )
        responses = dict(sorted(responses.items()))
        document: dict[str, Any] = {
            "operationId": operation.handler.__name__,
            "summary": operation.summary,
            "parameters": parameters,
            "responses": responses,
        }
        if operation.description:
            document["description"] = operation.description
        if operation.body is not None:
            document["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(operation.body)}},
            }
        if operation.admin:
            document["security"] = [{"adminToken": []}]
        if operation.customer:
            document["security"] = [{"customerToken": []}, {"adminToken": []}]
        return document


def _implied_statuses(operation: Operation) -> list[int]:
    """What the shared plumbing can answer for any operation of this shape."""
    implied = [400, 413, 422] if operation.body else []
    implied += [422] if operation.query else []
    implied += [400] if operation.headers else []
    implied += [404] if operation.path_params else []
    implied += [401, 403] if operation.admin or operation.customer else []
    return [*implied, 503]


def _bearer_token(realm: str, missing: str) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(realm, missing)
    return token.strip()


def _unauthorized(realm: str, detail: str, *, error: str | None = None) -> Problem:
    """A 401 whose `WWW-Authenticate` names the realm (and, for a bad token, RFC 6750's
    `invalid_token`), so a client knows to get a token and what was wrong with its own."""
    challenge = f'Bearer realm="{realm}"' + (f', error="{error}"' if error else "")
    return Problem(401, "Unauthorized", detail, headers={"WWW-Authenticate": challenge})


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _response_document(
    status: int, model: type[BaseModel] | str | None, *, customer: bool = False
) -> dict[str, Any]:
    if status >= 400:
        default = _ERROR_DESCRIPTIONS.get(status, "Error")
        if customer:
            default = {401: _CUSTOMER_401, 403: _CUSTOMER_403}.get(status, default)
        document: dict[str, Any] = {
            "description": model if isinstance(model, str) else default,
            "content": {PROBLEM_JSON: {"schema": _ref(ProblemDocument)}},
        }
        if status == 401:
            document["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status in (429, 503):
            document["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        return document
    if isinstance(model, type):
        return {
            "description": "OK" if status < 300 else "",
            "content": {"application/json": {"schema": _ref(model)}},
        }
    return {"description": model or "No content"}


def _parse_body(model: type[BaseModel]) -> BaseModel:
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: a 413 (RequestEntityTooLarge)
    try:
        data = json.loads(raw) if raw else None
    except RecursionError:
        raise _invalid([FieldError(field="body", message=_TOO_DEEP)]) from None
    except ValueError as error:
        raise Problem(400, "Bad Request", f"the body is not valid JSON: {error}") from None
    if data is None:
        raise Problem(400, "Bad Request", "a JSON body is required")
    if errors := unstorable_input(data):
        raise _invalid(errors)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise validation_problem(error) from None


_TOO_DEEP = f"arrays and objects may be nested at most {MAX_JSON_DEPTH} levels deep"


def unstorable_input(data: Any, location: str = "") -> list[FieldError]:
    """What no store behind an API can keep: every string (key or value) holding NUL or a lone
    surrogate, every array or object nested deeper than `MAX_JSON_DEPTH`. Iterative, so no
    document is too deep to check; at most `_MAX_FIELD_ERRORS` are named."""
    errors: list[FieldError] = []
    pending: list[tuple[Any, tuple[Any, ...], int]] = [(data, (), 1)]
    while pending and len(errors) < _MAX_FIELD_ERRORS:
        value, path, depth = pending.pop()
        if isinstance(value, str):
            if reason := unstorable_text_reason(value):
                errors.append(FieldError(field=_field_name(location, path), message=reason))
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                errors.append(FieldError(field=_field_name(location, path), message=_TOO_DEEP))
                continue
            items = list(value.items() if isinstance(value, dict) else enumerate(value))
            for key, item in reversed(items):
                if isinstance(key, str) and (reason := unstorable_text_reason(key)):
                    field_name = _field_name(location, (*path, key))
                    errors.append(FieldError(field=field_name, message=f"the key's {reason}"))
                pending.append((item, (*path, key), depth + 1))
    return errors


def _field_name(location: str, path: tuple[Any, ...]) -> str:
    parts = (location, *(str(part) for part in path))
    name = ".".join(part for part in parts if part != "") or "body"
    return name.encode("utf-8", "backslashreplace").decode("utf-8")


def _invalid(errors: list[FieldError]) -> Problem:
    return Problem(422, "Unprocessable Entity", "the request has invalid values", errors=errors)


def _check_path(path: dict[str, Any]) -> None:
    """A path segment no identifier can hold names nothing: a 404, as for any unknown id."""
    for name, value in path.items():
        if isinstance(value, str) and (reason := unstorable_text_reason(value)):
            raise Problem(404, "Not Found", f"no resource has this {name}: {reason}")


def _parse_query(model: type[BaseModel]) -> BaseModel:
    values = {key: request.args.get(key) for key in request.args}
    if errors := unstorable_input(values, location="query"):
        raise _invalid(errors)
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise validation_problem(error, location="query") from None


def _to_response(result: Any) -> Response:
    """A handler returns a model, (model, status), (model, status, headers), or a Response."""
    if isinstance(result, Response):
        return result
    status: int = 200
    headers: Mapping[str, str] = {}
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else {}
    if result is None:
        return Response(status=status, headers=headers)
    body = result.model_dump_json() if isinstance(result, BaseModel) else json.dumps(result)
    return Response(body, status=status, headers=headers, mimetype="application/json")
