"""Payment as a deployable: it answers the sagas' payment commands and serves the read API.

The card processor is a dependency of the authorise use case, chosen here (the simulated
one: the storefront contract's test tokens).
"""

from __future__ import annotations

from contracts import payment as commands
from eventing import topics
from payment_service import orm, services
from payment_service.api import build_api
from payment_service.config import load_settings
from payment_service.domain import PaymentProcessor, SimulatedProcessor
from payment_service.uow import PaymentUnitOfWork, SqlPaymentUnitOfWork
from servicekit.api import Api
from servicekit.deployable import Deployable, MessageTables, Runtime
from servicekit.dispatch import UseCases


def use_case_table(processor: PaymentProcessor) -> UseCases[PaymentUnitOfWork]:
    """Each command the sagas send and the use case that applies it."""
    return {
        commands.AuthorizePayment: lambda uow, command: services.authorize(uow, command, processor),
        commands.CapturePayment: services.capture,
        commands.VoidPayment: services.void,
        commands.RefundPayment: services.refund,
    }


def _api(runtime: Runtime[SqlPaymentUnitOfWork]) -> Api:
    return build_api(
        runtime.uow_factory,
        lambda: runtime.settings.admin_token,
        runtime.customer_token_verifier(),
    )


DEPLOYABLE: Deployable[SqlPaymentUnitOfWork] = Deployable(
    name="payment-service",
    package="payment_service",
    load_settings=load_settings,
    tables=MessageTables(outbox=orm.outbox, inbox=orm.inbox, holds=orm.holds),
    unit_of_work=SqlPaymentUnitOfWork,
    topics=(topics.PAYMENT_COMMANDS,),
    use_cases=lambda runtime: use_case_table(SimulatedProcessor()),
    api=_api,
)
