"""Saga queries and the operator's retry, through the orchestrator's own store and engine."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy.orm import Session

from sagas.bootstrap import SagaApp, bootstrap
from sagas.framework.engine import SagaInstance
from shopctl.cli import ShopctlError


@cache
def _app() -> SagaApp:
    return bootstrap()


def list_sagas(*, state: str | None, older_than: timedelta | None, limit: int) -> Sequence:
    app = _app()
    before = datetime.now(UTC) - older_than if older_than else None
    with Session(app.engine) as session:
        return app.orchestrator.store.list(session, state=state, updated_before=before, limit=limit)


def show(saga_id: str) -> SagaInstance:
    app = _app()
    with Session(app.engine) as session:
        instance = app.orchestrator.store.get(session, _checked(saga_id))
    if instance is None:
        raise ShopctlError(f"no saga {saga_id}")
    return instance


def retry(saga_id: str) -> SagaInstance:
    from sagas.framework.engine import NothingToRetry

    try:
        return _app().orchestrator.retry(_checked(saga_id))
    except KeyError:
        raise ShopctlError(f"no saga {saga_id}") from None
    except NothingToRetry as error:
        raise ShopctlError(str(error)) from None


def counts_by_state() -> dict[str, int]:
    app = _app()
    with Session(app.engine) as session:
        return app.orchestrator.store.count_by_state(session)


def _checked(saga_id: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(saga_id))
    except ValueError:
        raise ShopctlError(f"{saga_id!r} is not a saga id (a UUID)") from None
