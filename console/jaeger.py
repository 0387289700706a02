"""Jaeger's query API (the same on the local build and the official image): one trace by id,
and a search by service, operation, time range, minimum duration and span attributes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests


class JaegerUnavailable(Exception):
    """Jaeger did not answer, or answered with an error: the message says which."""


class TraceNotFound(LookupError):
    pass


@dataclass(frozen=True)
class TraceQuery:
    service: str
    operation: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    min_duration: str | None = None
    """Jaeger's duration text: 10ms, 1.5s."""
    attributes: dict[str, str] | None = None
    limit: int = 20

    def params(self) -> dict[str, str]:
        params = {"service": self.service, "limit": str(self.limit)}
        if self.operation:
            params["operation"] = self.operation
        if self.start:
            params["start"] = str(int(self.start.timestamp() * 1_000_000))
        if self.end:
            params["end"] = str(int(self.end.timestamp() * 1_000_000))
        if not self.start and not self.end:
            params["lookback"] = "2d"
        if self.min_duration:
            params["minDuration"] = self.min_duration
        if self.attributes:
            params["tags"] = json.dumps(self.attributes)
        return params


class JaegerClient:
    def __init__(self, base_url: str, timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            response = requests.get(f"{self.base_url}{path}", params=params, timeout=self.timeout_s)
        except requests.RequestException as error:
            raise JaegerUnavailable(f"Jaeger at {self.base_url} did not answer: {error}") from None
        if response.status_code == 404:
            raise TraceNotFound(path)
        if not response.ok:
            raise JaegerUnavailable(
                f"Jaeger answered {response.status_code}: {response.text.strip()[:200]}"
            )
        try:
            return response.json()
        except ValueError:
            raise JaegerUnavailable("Jaeger answered with something that is not JSON") from None

    def trace(self, trace_id: str) -> dict[str, Any]:
        data = self._get(f"/api/traces/{trace_id}").get("data") or []
        if not data:
            raise TraceNotFound(trace_id)
        return data[0]

    def search(self, query: TraceQuery) -> list[dict[str, Any]]:
        return self._get("/api/traces", query.params()).get("data") or []

    def services(self) -> list[str]:
        return sorted(self._get("/api/services").get("data") or [])

    def operations(self, service: str) -> list[str]:
        return sorted(self._get(f"/api/services/{service}/operations").get("data") or [])
