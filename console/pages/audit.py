"""The audit log: who did what, when, from the console or `shopctl`."""

from __future__ import annotations

from flask import Blueprint

from console.pages.common import kafka_settings
from console.rendering import render
from shopctl.audit import recent

blueprint = Blueprint("audit", __name__, url_prefix="/audit")


@blueprint.get("")
def page() -> str:
    return render("audit.html", entries=recent(kafka_settings(), limit=200))
