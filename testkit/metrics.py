"""Reading what a process's meter recorded, through an in-memory reader of the real SDK."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint


def counter_totals(reader: InMemoryMetricReader, name: str, by: str) -> dict[str, float]:
    """The counter `name`'s total per value of its attribute `by`."""
    totals: dict[str, float] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name != name:
                    continue
                for point in metric.data.data_points:
                    assert isinstance(point, NumberDataPoint), f"{name} is not a counter"
                    key = str((point.attributes or {})[by])
                    totals[key] = totals.get(key, 0) + point.value
    return totals
