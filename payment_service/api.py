"""Payment's HTTP API (the storefront contract's payment section)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated

from pydantic import BaseModel, Field

from payment_service import services
from payment_service.domain import Payment, PaymentStatus
from payment_service.uow import PaymentUnitOfWork
from servicekit.api import Api, Caller
from servicekit.customer_tokens import CustomerTokenVerifier
from servicekit.fields import Text
from servicekit.problems import not_found


class PaymentQuery(BaseModel):
    order_id: Annotated[Text, Field(min_length=1, max_length=200)] = Field(
        description="the order whose payments to list"
    )


class PaymentOut(BaseModel):
    payment_id: str
    order_id: str
    amount_cents: int
    status: PaymentStatus

    @classmethod
    def of(cls, payment: Payment) -> PaymentOut:
        return cls(
            payment_id=payment.payment_id,
            order_id=payment.order_id,
            amount_cents=payment.amount_cents,
            status=payment.status,
        )


class PaymentList(BaseModel):
    items: list[PaymentOut]


def build_api(
    uow_factory: Callable[[], PaymentUnitOfWork],
    admin_token: Callable[[], str],
    customer_tokens: CustomerTokenVerifier,
) -> Api:
    api = Api(
        "payment-service",
        "Payments",
        admin_token=admin_token,
        customer_tokens=customer_tokens,
        description=(
            "Payments are made by the checkout saga; this API reads them. A customer token "
            "reads its own orders' payments, the admin token every payment."
        ),
    )

    @api.operation(
        "GET",
        "/payments",
        summary="An order's payments (none for another customer's order)",
        query=PaymentQuery,
        customer=True,
        responses={200: PaymentList},
    )
    def list_payments(query: PaymentQuery, caller: Caller) -> PaymentList:
        with uow_factory() as uow:
            payments = services.visible_payments(uow, query.order_id)
        return PaymentList(
            items=[PaymentOut.of(p) for p in payments if caller.may_see(p.customer_id)]
        )

    @api.operation(
        "GET",
        "/payments/<payment_id>",
        summary="One payment",
        customer=True,
        responses={200: PaymentOut, 404: "unknown payment, or another customer's"},
    )
    def get_payment(payment_id: str, caller: Caller) -> PaymentOut:
        try:
            uuid.UUID(payment_id)
        except ValueError:
            raise not_found("payment", payment_id) from None
        with uow_factory() as uow:
            payment = uow.payments.by_id(payment_id)
        if (
            payment is None
            or payment.status is PaymentStatus.PENDING
            or not caller.may_see(payment.customer_id)
        ):
            raise not_found("payment", payment_id)
        return PaymentOut.of(payment)

    return api
