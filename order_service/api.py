"""The order service's HTTP API: checkout as the storefront contract describes it, built from
the unit of work factory, tokens and rate limit it is given (`order_service.deployable`
gives them; gunicorn serves it through `servicekit.deployable:create_app('order_service')`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from flask import request
from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Sku
from order_service import services
from order_service.domain import (
    IdempotencyConflict,
    InvalidTransition,
    Order,
    OrderNotFound,
    UnknownProducts,
)
from order_service.uow import OrderUnitOfWork
from sagas.framework.engine import SagaInstance
from servicekit.api import Api, Caller, HeaderParam
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.fields import Page, PageSize, Text, whole_number
from servicekit.problems import FieldError, Problem, conflict, not_found

Identifier = Annotated[Text, Field(min_length=1, max_length=200)]
IDEMPOTENCY_KEY = HeaderParam(
    "Idempotency-Key",
    "a client-chosen key: the same key with the same body returns the same "
    "order, with another body a 409",
    required=True,
    max_length=200,
)

Quantity = Annotated[int, *whole_number(ge=1, le=1000)]


class OrderLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: Sku
    quantity: Quantity


class NewOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: Identifier | None = Field(
        default=None, description="optional: when given, it must be the customer token's sub"
    )
    items: list[OrderLine] = Field(min_length=1, max_length=100)
    payment_method: Identifier


class OrderAccepted(BaseModel):
    order_id: str
    status: str


class PricedLine(BaseModel):
    sku: str
    quantity: int
    unit_price_cents: int


class SagaStepOut(BaseModel):
    name: str
    status: str
    at: datetime


class SagaOut(BaseModel):
    saga_id: str | None
    state: str
    steps: list[SagaStepOut]

    @classmethod
    def of(cls, saga: SagaInstance | None) -> SagaOut:
        """The order's newest saga, read from the orchestrator's own rows (the same
        database): every entry of its step log, in order."""
        if saga is None:
            return cls(saga_id=None, state="NOT_STARTED", steps=[])
        return cls(
            saga_id=saga.saga_id,
            state=saga.state.value,
            steps=[SagaStepOut(name=e.step, status=e.status.value, at=e.at) for e in saga.log],
        )


class OrderOut(BaseModel):
    order_id: str
    customer_id: str
    status: str
    rejection_reason: str | None
    items: list[PricedLine]
    total_cents: int
    created_at: datetime | None
    updated_at: datetime | None
    saga: SagaOut

    @classmethod
    def of(cls, order: Order, saga: SagaInstance | None) -> OrderOut:
        return cls(
            order_id=order.order_id,
            customer_id=order.customer_id,
            status=order.status,
            rejection_reason=order.rejection_reason,
            items=[
                PricedLine(sku=i.sku, quantity=i.quantity, unit_price_cents=i.unit_price_cents)
                for i in order.items
            ],
            total_cents=order.total_cents,
            created_at=order.created_at,
            updated_at=order.updated_at,
            saga=SagaOut.of(saga),
        )


class OrderQuery(BaseModel):
    customer_id: Identifier | None = Field(
        default=None,
        description="whose orders: the caller's own (the default), any with the admin token",
    )
    page: Page = 1
    page_size: PageSize = 20


class OrderPage(BaseModel):
    items: list[OrderOut]
    page: int
    page_size: int
    total: int


def _unknown_products(error: UnknownProducts) -> Problem:
    return Problem(
        422,
        "Unprocessable Entity",
        str(error),
        errors=[
            FieldError(field=f"items.{position}.sku", message=f"unknown product {sku}")
            for position, sku in zip(error.positions, error.skus, strict=True)
        ],
    )


@dataclass(frozen=True)
class OrderRateLimit:
    """`POST /orders` a customer may send per window (the order service's settings)."""

    orders: int
    window_s: int

    def check(self, uow_factory: Callable[[], OrderUnitOfWork], customer_id: str) -> None:
        """Count the request (in its own transaction: a refused or failing order counts
        too); a 429 with Retry-After beyond the limit."""
        with uow_factory() as uow:
            wait_s = uow.rate_limits.take(customer_id, self.orders, self.window_s)
            uow.commit()
        if wait_s is not None:
            retry_after = max(math.ceil(wait_s), 1)
            raise Problem(
                429,
                "Too Many Requests",
                f"at most {self.orders} orders per {self.window_s} s for a customer; "
                f"retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )


def _ordering_customer(caller: Caller, body: NewOrder) -> str:
    """The customer an order is placed for: the token's, which a body may only repeat."""
    customer_id = caller.require_customer("placing an order")
    if body.customer_id is not None and body.customer_id != customer_id:
        raise Problem(
            403, "Forbidden", "customer_id must be the customer token's sub (or be left out)"
        )
    return customer_id


def _listed_customer(caller: Caller, query: OrderQuery) -> str:
    if caller.customer_id is None:
        if query.customer_id is None:
            raise Problem(
                422,
                "Unprocessable Entity",
                "the admin token lists one customer's orders: give customer_id",
                errors=[FieldError(field="query.customer_id", message="Field required")],
            )
        return query.customer_id
    if query.customer_id not in (None, caller.customer_id):
        raise Problem(403, "Forbidden", "a customer token lists only its own orders")
    return caller.customer_id


def build_api(
    uow_factory: Callable[[], OrderUnitOfWork],
    admin_token: Callable[[], str],
    customer_tokens: CustomerTokenVerifier,
    rate_limit: OrderRateLimit,
    start_saga: services.StartSaga,
) -> Api:
    api = Api(
        "order-service",
        "Orders: checkout",
        admin_token=admin_token,
        customer_tokens=customer_tokens,
        description=(
            "Every route needs a customer token (its sub is the customer) or, to read any "
            "customer's orders, the admin token. Another customer's order is a 404."
        ),
    )

    @api.operation(
        "POST",
        "/orders",
        summary="Place an order (starts the checkout saga)",
        body=NewOrder,
        headers=[IDEMPOTENCY_KEY],
        customer=True,
        responses={
            202: OrderAccepted,
            200: OrderAccepted,
            403: "the body's customer_id is not the token's sub, or the token is the admin's",
            409: "the Idempotency-Key was used with another body",
            422: "invalid values or unknown products",
            429: "the customer's rate limit is reached (Retry-After says when to try again)",
        },
    )
    def place_order(body: NewOrder, caller: Caller):
        key = request.headers[IDEMPOTENCY_KEY.name]  # checked by the operation's declaration
        customer_id = _ordering_customer(caller, body)
        rate_limit.check(uow_factory, customer_id)
        placed = body.model_dump() | {"customer_id": customer_id}
        with uow_factory() as uow:
            try:
                order, created = services.place_order(uow, key, placed, start_saga)
            except UnknownProducts as error:
                raise _unknown_products(error) from None
            except IdempotencyConflict:
                raise conflict("this Idempotency-Key was used with a different request") from None
            uow.commit()
        accepted = OrderAccepted(order_id=order.order_id, status=order.status)
        return accepted, 202 if created else 200, {"Location": f"/orders/{order.order_id}"}

    @api.operation(
        "GET",
        "/orders/<order_id>",
        summary="An order with its saga's progress",
        customer=True,
        responses={200: OrderOut, 404: "unknown order, or another customer's"},
    )
    def get_order(order_id: str, caller: Caller) -> OrderOut:
        with uow_factory() as uow:
            try:
                order = services.get_order(uow, order_id)
            except OrderNotFound:
                raise not_found("order", order_id) from None
            if not caller.may_see(order.customer_id):
                raise not_found("order", order_id)
            return OrderOut.of(order, uow.sagas.newest([order_id]).get(order_id))

    @api.operation(
        "GET",
        "/orders",
        summary="The caller's orders (or, with the admin token, a customer's), newest first",
        query=OrderQuery,
        customer=True,
        responses={
            200: OrderPage,
            403: "a customer token asked for another customer's orders",
            422: "invalid values, or the admin token without customer_id",
        },
    )
    def list_orders(query: OrderQuery, caller: Caller) -> OrderPage:
        customer_id = _listed_customer(caller, query)
        with uow_factory() as uow:
            found, total = uow.orders.for_customer(customer_id, query.page, query.page_size)
            sagas = uow.sagas.newest([o.order_id for o in found])
        return OrderPage(
            items=[OrderOut.of(o, sagas.get(o.order_id)) for o in found],
            page=query.page,
            page_size=query.page_size,
            total=total,
        )

    @api.operation(
        "POST",
        "/orders/<order_id>/cancel",
        summary="Cancel an approved order (a saga refunds it and returns the stock)",
        customer=True,
        responses={
            202: OrderAccepted,
            403: "the admin token reads orders but cancels none",
            404: "unknown order, or another customer's",
            409: "the order is not approved",
        },
    )
    def cancel_order(order_id: str, caller: Caller):
        customer_id = caller.require_customer("cancelling an order")
        with uow_factory() as uow:
            try:
                order = services.request_cancellation(uow, order_id, customer_id, start_saga)
            except OrderNotFound:
                raise not_found("order", order_id) from None
            except InvalidTransition as error:
                raise conflict(str(error)) from None
            uow.commit()
        return OrderAccepted(order_id=order.order_id, status=order.status), 202

    return api
