"""Sagas: the list with filters and pages, one saga drawn against its definition, and the
operator's retries (one, or all a filter matches after a confirmation), all through
`shopctl.sagas`, the same operations `shopctl sagas` runs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from console import security
from console.pages.common import trace_of_order
from console.rendering import render
from shopctl import sagas as operations
from shopctl.timeline import build_timeline

blueprint = Blueprint("sagas", __name__, url_prefix="/sagas")
PAGE_SIZE = 25
FILTER_FIELDS = ("type", "state", "older_than", "order", "customer")


def filter_from(values: Any) -> operations.SagaFilter:
    """The saga filter of a query string or form; a 400 page says what is wrong with it."""
    try:
        return operations.filter_from_text(
            saga_type=values.get("type", ""),
            state=values.get("state", ""),
            older_than=values.get("older_than", ""),
            order_id=values.get("order", ""),
            customer_id=values.get("customer", ""),
        )
    except operations.SagaOperationFailed as error:
        abort(400, description=str(error))


def filter_args(values: Any) -> dict[str, str]:
    return {name: values.get(name, "").strip() for name in FILTER_FIELDS if values.get(name)}


@blueprint.get("")
def index() -> str:
    chosen = filter_from(request.args)
    try:
        page_number = max(1, int(request.args.get("page", "1")))
    except ValueError:
        abort(400, description="page must be a number")
    page = operations.list_sagas(chosen, limit=PAGE_SIZE, offset=(page_number - 1) * PAGE_SIZE)
    return render(
        "sagas.html",
        page=page,
        page_number=page_number,
        args=filter_args(request.args),
        saga_types=operations.saga_types(),
        states=[state.value for state in operations.SagaState],
        retriable=operations.RETRIABLE_STATES,
        described=chosen.describe(),
    )


@blueprint.get("/retry-matching")
def confirm_retry_matching() -> str:
    chosen = filter_from(request.args)
    matched = operations.retriable(chosen)
    return render(
        "sagas_confirm.html",
        matched=matched,
        args=filter_args(request.args),
        described=chosen.describe(),
    )


@blueprint.post("/retry-matching")
def retry_matching() -> Response:
    chosen = filter_from(request.form)
    args: dict[str, Any] = filter_args(request.form)  # url_for's **values are Any
    try:
        expected = int(request.form.get("expected", ""))
    except ValueError:
        abort(400, description="the confirmed count is missing")
    try:
        report = operations.retry_matching(chosen, actor=security.actor(), expected=expected)
    except operations.SagaOperationFailed as error:
        flash(str(error), "error")
        return redirect(url_for("sagas.confirm_retry_matching", **args))
    message = (
        f"retried {len(report.retried)} of {len(report.matched)} saga(s) "
        f"matching {chosen.describe()}"
    )
    if report.failed:
        message += f"; not retried: {len(report.failed)} (they moved on meanwhile)"
    flash(message, "ok")
    return redirect(url_for("sagas.index", **args))


@blueprint.get("/<saga_id>")
def detail(saga_id: str) -> str:
    try:
        instance = operations.show(saga_id)
    except operations.SagaOperationFailed as error:
        abort(404, description=str(error))
    timeline = build_timeline(operations.definition(instance.saga_type), instance)
    return render(
        "saga.html",
        saga=instance,
        drawn=timeline,
        retriable=instance.state in operations.RETRIABLE_STATES,
        awaited=operations.awaited_command(instance),
        trace_id=trace_of_order(instance.key),
    )


@blueprint.post("/<saga_id>/retry")
def retry(saga_id: str) -> Response:
    try:
        instance = operations.retry(saga_id, actor=security.actor())
    except operations.SagaOperationFailed as error:
        flash(f"not retried: {error}", "error")
    else:
        flash(f"retried: resent {operations.awaited_command(instance)} ({instance.state})", "ok")
    return redirect(url_for("sagas.detail", saga_id=saga_id))
