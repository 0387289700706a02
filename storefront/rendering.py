"""Templates and the filters they use (money is formatted here, for display only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import render_template

from storefront import wording


def render(template: str, **context: Any) -> str:
    return render_template(template, **context)


def when(text: str | None) -> str:
    """An API's ISO time as a person reads it, in UTC, to the second."""
    if not text:
        return "-"
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return str(text)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


FILTERS = {
    "money": wording.money,
    "when": when,
    "rejection": wording.rejection,
    "order_status": lambda status: wording.ORDER_STATUSES.get(status, status),
    "payment_status": lambda status: wording.PAYMENT_STATUSES.get(status, status.lower()),
}
