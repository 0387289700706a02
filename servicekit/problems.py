"""RFC 9457 problem details: every error an API returns, as `application/problem+json`."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import HTTPException

from eventing.db_errors import is_transient
from eventing.errors import TransientError

log = logging.getLogger(__name__)
PROBLEM_JSON = "application/problem+json"


class FieldError(BaseModel):
    field: str
    message: str


class ProblemDocument(BaseModel):
    """The body of every error response (documented in each service's OpenAPI)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise from a route or a service layer to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        type_: str = "about:blank",
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.document = ProblemDocument(
            type=type_, title=title, status=status, detail=detail, errors=errors
        )
        self.headers = headers or {}

    def response(self) -> Response:
        body = self.document.model_dump(exclude_none=True)
        response = Response(json.dumps(body), status=self.document.status, mimetype=PROBLEM_JSON)
        response.headers.update(self.headers)
        return response


def not_found(what: str, key: Any) -> Problem:
    return Problem(404, "Not Found", f"{what} {key!s} does not exist")


def conflict(detail: str) -> Problem:
    return Problem(409, "Conflict", detail)


def unavailable(
    detail: str = "a dependency is briefly unavailable; retry", retry_after_s: int = 1
) -> Problem:
    """503 with `Retry-After`: the request was fine, a server behind the API is not (yet)."""
    return Problem(503, "Service Unavailable", detail, headers={"Retry-After": str(retry_after_s)})


def validation_problem(error: ValidationError, *, location: str = "") -> Problem:
    """422 naming every invalid field (dotted paths, prefixed by `location` for query or path)."""
    errors = [
        FieldError(
            field=".".join(str(part) for part in (location, *item["loc"]) if part != "") or "body",
            message=item["msg"],
        )
        for item in error.errors(include_url=False)
    ]
    return Problem(422, "Unprocessable Entity", "the request has invalid values", errors=errors)


def install_problem_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem.response()

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        """Werkzeug's own errors (404 route, 405 method, 413 body too large...) as problems,
        with the headers they carry: a 405 says what is `Allow`ed, as RFC 9110 requires."""
        headers = {
            name: value for name, value in error.get_headers() if name.lower() != "content-type"
        }
        return Problem(
            error.code or 500, error.name, error.description or error.name, headers=headers
        ).response()

    @app.errorhandler(DataError)
    def _out_of_range(error: DataError) -> Response:
        """The database refused a value (SQLSTATE class 22: out of range, too long...): the
        request carried it, so it is the client's to change, not a server failure."""
        sqlstate = getattr(error.orig, "pgcode", "") or ""
        if not sqlstate.startswith("22"):
            return _unexpected(error)
        log.info("answering 422 for a value the database refused: %s", error.orig)
        return Problem(
            422, "Unprocessable Entity", "a value is out of the range this service can store"
        ).response()

    @app.errorhandler(TransientError)
    def _unavailable(error: Exception) -> Response:
        log.warning("answering 503: %s", error)
        return unavailable().response()

    @app.errorhandler(DBAPIError)
    @app.errorhandler(DisconnectionError)
    @app.errorhandler(PoolTimeoutError)
    def _database_error(error: Exception) -> Response:
        """A query that met the database down (refused, restarting, a connection it dropped):
        the same 503 as a TransientError, whichever layer it surfaced in. Reads go straight
        through the session, not through the unit of work's translated commit."""
        if is_transient(error):
            return _unavailable(error)
        return _unexpected(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error")
        return Problem(500, "Internal Server Error", "an unexpected error occurred").response()
