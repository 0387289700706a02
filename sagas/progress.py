"""How the shop announces saga progress: SagaProgressed, keyed by the order."""

from __future__ import annotations

from contracts.sagas import SagaProgressed, SagaStep
from sagas.framework.engine import SagaInstance


def saga_progressed(instance: SagaInstance, version: int) -> SagaProgressed:
    return SagaProgressed(
        order_id=instance.key,
        saga_id=instance.saga_id,
        saga_type=instance.saga_type,
        state=instance.state.value,
        version=version,
        steps=[SagaStep(name=e.step, status=e.status.value, at=e.at) for e in instance.log],
    )
