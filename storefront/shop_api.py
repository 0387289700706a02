"""The shop's APIs as the storefront calls them, server-side: search and the catalogue
anonymously, orders and payments with the signed-in customer's token.

Two failures matter to a page: the API said no (a 4xx problem+json, `ApiProblem`, whose
`message` is fit for a person), or it could not answer (refused, timed out, a 5xx:
`ApiUnavailable`, which the app turns into a "try again" page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from storefront.config import StorefrontSettings


class ApiUnavailable(Exception):
    """An API did not answer, or answered with a server error: worth trying again later."""

    def __init__(self, service: str, detail: str):
        super().__init__(f"the {service} did not answer: {detail}")
        self.service = service


@dataclass
class ApiProblem(Exception):
    """An API refused the request (4xx); `message` says why in words."""

    status: int
    title: str
    detail: str = ""
    errors: list[dict[str, str]] = field(default_factory=list)
    retry_after_s: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.status == 429:
            wait = f" in {self.retry_after_s} seconds" if self.retry_after_s else " in a minute"
            return f"You are ordering faster than the shop allows: try again{wait}."
        if self.status == 401:
            return "Your sign-in has expired: please sign in again."
        reasons = "; ".join(
            f"{e.get('field', '')}: {e.get('message', '')}".strip(": ") for e in self.errors
        )
        text = self.detail or self.title or f"the request was refused ({self.status})"
        return f"{text} ({reasons})" if reasons and reasons not in text else text


def problem_of(response: requests.Response) -> ApiProblem:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    errors = body.get("errors")
    return ApiProblem(
        status=response.status_code,
        title=str(body.get("title") or response.reason or ""),
        detail=str(body.get("detail") or ""),
        errors=[e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else [],
        retry_after_s=response.headers.get("Retry-After"),
    )


class ShopApi:
    """One request's view of the shop: `token` is the signed-in customer's, or None."""

    def __init__(self, settings: StorefrontSettings, token: str | None = None):
        self.settings = settings
        self.token = token

    def _call(
        self,
        service: str,
        base_url: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.request(
                method,
                f"{base_url}{path}",
                params=params,
                json=json,
                headers=sent,
                timeout=self.settings.api_timeout_s,
            )
        except requests.RequestException as error:
            raise ApiUnavailable(service, type(error).__name__) from None
        if response.status_code >= 500:
            raise ApiUnavailable(service, f"it answered {response.status_code}")
        if response.status_code >= 400:
            raise problem_of(response)
        try:
            return response.json() if response.content else None
        except ValueError:
            raise ApiUnavailable(service, "its answer was not JSON") from None

    # --- search and the catalogue (anonymous) -----------------------------------------------

    def search(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._call(
            "search service", self.settings.search_service_url, "GET", "/search", params=params
        )

    def product(self, sku: str) -> dict[str, Any]:
        return self._call(
            "inventory service",
            self.settings.inventory_service_url,
            "GET",
            f"/products/{quote(sku, safe='')}",
        )

    # --- orders and payments (the customer's token) -----------------------------------------

    def _orders(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._call("order service", self.settings.order_service_url, method, path, **kwargs)

    def place_order(
        self, items: list[dict[str, Any]], payment_method: str, idempotency_key: str
    ) -> dict[str, Any]:
        return self._orders(
            "POST",
            "/orders",
            json={"items": items, "payment_method": payment_method},
            headers={"Idempotency-Key": idempotency_key},
        )

    def order(self, order_id: str) -> dict[str, Any]:
        return self._orders("GET", f"/orders/{quote(order_id, safe='')}")

    def orders(self, page: int, page_size: int) -> dict[str, Any]:
        return self._orders("GET", "/orders", params={"page": page, "page_size": page_size})

    def cancel(self, order_id: str) -> None:
        self._orders("POST", f"/orders/{quote(order_id, safe='')}/cancel")

    def payments(self, order_id: str) -> list[dict[str, Any]]:
        found = self._call(
            "payment service",
            self.settings.payment_service_url,
            "GET",
            "/payments",
            params={"order_id": order_id},
        )
        return list(found.get("items", [])) if isinstance(found, dict) else []
