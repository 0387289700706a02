"""What the shop's own metrics record, read back through the OpenTelemetry SDK's in-memory
reader (the real SDK, not a fake): gauge readings without spans and surviving a failure, the
saga duration, checkout's time to approved only once an approval commits, and the search
indexing lag of what was written."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import metrics
from opentelemetry.instrumentation.utils import is_instrumentation_enabled
from opentelemetry.metrics import CallbackOptions
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from eventing.envelope import Envelope
from eventing.metrics import observed
from order_service.domain import Order, OrderStatus
from order_service.metrics import order_changed
from sagas.framework.engine import LogEntry, SagaInstance, SagaState, StepStatus
from sagas.framework.metrics import saga_ended
from search_indexer.indexer import Record
from search_indexer.metrics import records_indexed
from servicekit.unit_of_work import InMemoryUnitOfWork

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def reader() -> InMemoryMetricReader:
    """The process's meter provider, reading into memory (the instruments are module-level,
    made through the global provider, which can be set once per process)."""
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


def histogram_points(reader: InMemoryMetricReader, name: str) -> list[HistogramDataPoint]:
    data = reader.get_metrics_data()
    return [
        point
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
        if isinstance(point, HistogramDataPoint)
    ]


def test_a_gauge_reading_makes_no_spans_and_reports_its_values():
    def read():
        assert not is_instrumentation_enabled(), "a reading's queries would make spans"
        return [(3, {"saga.state": "RUNNING"})]

    [observation] = observed("saga.active", read)(CallbackOptions())
    assert (observation.value, observation.attributes) == (3, {"saga.state": "RUNNING"})


def test_a_failed_gauge_reading_is_logged_and_reports_nothing(caplog):
    def read():
        raise ConnectionError("database down")

    with caplog.at_level(logging.WARNING, logger="eventing.metrics"):
        assert list(observed("outbox.backlog", read)(CallbackOptions())) == []
    assert "reading outbox.backlog failed: ConnectionError: database down" in caplog.text


def saga(state: SagaState, took: timedelta) -> SagaInstance:
    return SagaInstance(
        saga_id="s-1",
        saga_type="checkout",
        key="o-1",
        state=state,
        data={},
        log=[
            LogEntry("reserve_stock", StepStatus.STARTED, START),
            LogEntry("approve", StepStatus.SUCCEEDED, START + took),
        ],
    )


def test_an_ended_saga_records_its_duration_by_type_and_end_state(reader):
    saga_ended(saga(SagaState.ABORTED, timedelta(seconds=2.5)))
    [point] = [
        p
        for p in histogram_points(reader, "saga.duration")
        if p.attributes == {"saga.type": "checkout", "saga.state": "ABORTED"}
    ]
    assert (point.count, point.sum) == (1, 2.5)


def order(status: OrderStatus) -> Order:
    return Order(
        order_id="o-1",
        customer_id="c-1",
        status=status,
        items=(),
        payment_method="tok_visa",
        created_at=datetime.now(UTC) - timedelta(seconds=1),
    )


def approvals(reader: InMemoryMetricReader) -> int:
    return sum(p.count for p in histogram_points(reader, "checkout.time_to_approved"))


def test_time_to_approved_is_recorded_when_the_approval_commits_and_not_before(reader):
    before = approvals(reader)
    with InMemoryUnitOfWork() as uow:
        order_changed(uow, order(OrderStatus.PENDING), order(OrderStatus.APPROVED))
        assert approvals(reader) == before, "recorded before the commit"
        uow.commit()
    assert approvals(reader) == before + 1
    [point] = histogram_points(reader, "checkout.time_to_approved")
    assert 1 <= point.max < 60


def test_a_rolled_back_approval_and_other_changes_record_nothing(reader):
    uow = InMemoryUnitOfWork()
    before = approvals(reader)
    with uow:
        order_changed(uow, order(OrderStatus.PENDING), order(OrderStatus.APPROVED))
    with uow:  # the next unit of work, after that one rolled back
        order_changed(uow, order(OrderStatus.PENDING), order(OrderStatus.REJECTED))
        order_changed(uow, order(OrderStatus.APPROVED), order(OrderStatus.APPROVED))
        uow.commit()
    assert approvals(reader) == before


def record(offset: int, occurred_at: datetime | None) -> Record:
    value = (
        Envelope(
            type="ProductUpdated",
            aggregate_type="product",
            aggregate_id="SKU-1",
            occurred_at=occurred_at,
            correlation_id="c",
            payload={},
        ).to_bytes()
        if occurred_at
        else b"not an envelope"
    )
    return Record(
        topic="inventory.products",
        partition=0,
        offset=offset,
        key=b"SKU-1",
        headers={},
        value=value,
    )


def test_indexing_lag_is_recorded_for_each_written_change_not_for_dead_letters(reader):
    ten_seconds_ago = datetime.now(UTC) - timedelta(seconds=10)
    written, dead_lettered, undecodable = (
        record(1, ten_seconds_ago),
        record(2, ten_seconds_ago),
        record(3, None),
    )
    records_indexed("search-indexer", [written, dead_lettered, undecodable], {(0, 2): "refused"})
    [point] = histogram_points(reader, "search.indexing.lag")
    assert point.count == 1 and 10 <= point.sum < 60
