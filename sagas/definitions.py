"""The shop's two sagas, as definitions: checkout and cancellation of an approved order."""

from __future__ import annotations

from typing import Protocol

from contracts import inventory, orders, payment
from eventing.registry import Event
from sagas.framework.definition import RetryPolicy, SagaData, SagaDefinition, Step

CHECKOUT = "checkout"
CANCELLATION = "cancellation"


def _reason(event: Event) -> str:
    return str(event.reason)  # type: ignore[attr-defined]


def _order_key(event: Event) -> str:
    return str(event.order_id)  # type: ignore[attr-defined]


class OrderCommand(Protocol):
    """A command that needs nothing but the order's id, e.g. `payment.CapturePayment`."""

    def __call__(self, *, order_id: str) -> Event: ...


def _until_answered(
    name: str, command: OrderCommand, reply: type[Event], timeout_s: float, resend: RetryPolicy
) -> Step:
    """A step past the point of no return: `command` for the order, resent until `reply`."""
    return Step(
        name,
        command=lambda d: command(order_id=d["order_id"]),
        succeeded_by=(reply,),
        timeout_s=timeout_s,
        retriable=True,
        retry=resend,
    )


def _until_answered_policy(retry_base_delay_s: float) -> RetryPolicy:
    """Resending past the point of no return: no bound, the same backoff as every resend."""
    return RetryPolicy(attempts=None, base_delay_s=retry_base_delay_s)


def _checkout_data(event: Event) -> SagaData:
    assert isinstance(event, orders.OrderCreated)
    return event.model_dump(mode="json")


def checkout_saga(
    *,
    reply_timeout_s: float = 10.0,
    payment_timeout_s: float = 10.0,
    retry_base_delay_s: float = 1.0,
    max_compensation_attempts: int = 8,
    step_attempts: int = 3,
    step_deadline_s: float = 120.0,
) -> SagaDefinition:
    """OrderCreated -> reserve stock -> authorise payment -> capture -> commit stock -> approve.

    Reserving and authorising can fail (a failure reply is final: then what was done is undone
    and the order is rejected with the reason) or go unanswered: each attempt waits its timeout,
    then the command is resent after a backoff, up to `step_attempts` sends and
    `step_deadline_s` in all, before the step times out and is undone like a failure.
    Capturing, committing and approving come after the point of no return and are resent until
    answered."""

    def items(data: SagaData) -> list[dict]:
        return [{"sku": i["sku"], "quantity": i["quantity"]} for i in data["items"]]

    step_retry = RetryPolicy(
        attempts=step_attempts, base_delay_s=retry_base_delay_s, deadline_s=step_deadline_s
    )
    resend = _until_answered_policy(retry_base_delay_s)

    return SagaDefinition(
        name=CHECKOUT,
        started_by=orders.OrderCreated,
        key=_order_key,
        key_attribute="order.id",
        initial_data=_checkout_data,
        steps=(
            Step(
                "reserve_stock",
                command=lambda d: inventory.ReserveStock(order_id=d["order_id"], items=items(d)),
                succeeded_by=(inventory.StockReserved,),
                failed_by={inventory.StockReservationFailed: _reason},
                compensation=lambda d: inventory.ReleaseStock(order_id=d["order_id"]),
                compensated_by=(inventory.StockReleased,),
                timeout_s=reply_timeout_s,
                retry=step_retry,
            ),
            Step(
                "authorize_payment",
                command=lambda d: payment.AuthorizePayment(
                    order_id=d["order_id"],
                    customer_id=d["customer_id"],
                    amount_cents=d["total_cents"],
                    payment_method=d["payment_method"],
                ),
                succeeded_by=(payment.PaymentAuthorized,),
                failed_by={payment.PaymentDeclined: _reason},
                compensation=lambda d: payment.VoidPayment(order_id=d["order_id"]),
                compensated_by=(payment.PaymentVoided,),
                timeout_s=payment_timeout_s,
                retry=step_retry,
                remember=lambda reply: {"payment_id": reply.payment_id},  # type: ignore[attr-defined]
            ),
            _until_answered(
                "capture_payment",
                payment.CapturePayment,
                payment.PaymentCaptured,
                reply_timeout_s,
                resend,
            ),
            _until_answered(
                "commit_stock",
                inventory.CommitStock,
                inventory.StockCommitted,
                reply_timeout_s,
                resend,
            ),
            _until_answered(
                "approve_order",
                orders.ApproveOrder,
                orders.OrderApproved,
                reply_timeout_s,
                resend,
            ),
        ),
        on_abort=Step(
            "reject_order",
            command=lambda d: orders.RejectOrder(
                order_id=d["order_id"], reason=d["failure_reason"]
            ),
            succeeded_by=(orders.OrderRejected,),
            timeout_s=reply_timeout_s,
            retriable=True,
            retry=resend,
        ),
        compensation_retry=RetryPolicy(
            attempts=max_compensation_attempts, base_delay_s=retry_base_delay_s
        ),
    )


def cancellation_saga(
    *, reply_timeout_s: float = 10.0, retry_base_delay_s: float = 1.0
) -> SagaDefinition:
    """OrderCancellationRequested (an approved order) -> refund -> return stock -> cancelled.

    Every step is past the point of no return: the customer asked, so each is retried until
    answered."""
    resend = _until_answered_policy(retry_base_delay_s)
    return SagaDefinition(
        name=CANCELLATION,
        started_by=orders.OrderCancellationRequested,
        key=_order_key,
        key_attribute="order.id",
        initial_data=lambda event: {"order_id": _order_key(event)},
        steps=(
            _until_answered(
                "refund_payment",
                payment.RefundPayment,
                payment.PaymentRefunded,
                reply_timeout_s,
                resend,
            ),
            _until_answered(
                "return_stock",
                inventory.ReturnStock,
                inventory.StockReturned,
                reply_timeout_s,
                resend,
            ),
            _until_answered(
                "complete_cancellation",
                orders.CompleteCancellation,
                orders.OrderCancelled,
                reply_timeout_s,
                resend,
            ),
        ),
    )
