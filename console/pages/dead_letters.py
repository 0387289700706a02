"""Dead letters: each dead-letter topic with its size; one topic's letters grouped by reason;
a letter's headers, payload and origin; redrive of the selected letters, of all of a reason,
or of every letter not yet redriven. All through `shopctl.dead_letters`."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from console import security
from console.pages.common import kafka_settings
from console.rendering import render
from shopctl import dead_letters as operations

blueprint = Blueprint("dead_letters", __name__, url_prefix="/dead-letters")


def payload_text(value: bytes | None) -> str:
    """The payload for reading: pretty JSON when it is JSON, else the text as it is."""
    text = (value or b"").decode(errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


@blueprint.get("")
def index() -> str:
    return render("dead_letters.html", topics=operations.topics(kafka_settings()))


@blueprint.get("/<topic>")
def topic(topic: str) -> str:
    try:
        found = operations.letters(kafka_settings(), topic)
    except operations.DeadLetterOperationFailed as error:
        abort(404, description=str(error))
    return render(
        "dead_letter_topic.html",
        topic=topic,
        groups=operations.by_reason(found),
        total=len(found),
        position=operations.position,
    )


@blueprint.get("/<topic>/<at>")
def letter(topic: str, at: str) -> str:
    try:
        found = operations.letter(kafka_settings(), topic, at)
    except operations.DeadLetterOperationFailed as error:
        abort(404, description=str(error))
    return render(
        "dead_letter.html",
        topic=topic,
        letter=found,
        at=at,
        payload=payload_text(found.value),
        key=(found.key or b"").decode(errors="replace"),
    )


@blueprint.post("/<topic>/redrive")
def redrive(topic: str) -> Response:
    positions = request.form.getlist("at")
    reason = request.form.get("reason") or None
    everything = request.form.get("all") == "unredriven"
    if not (positions or reason or everything):
        flash("select letters to redrive (or a reason)", "error")
        return redirect(url_for("dead_letters.topic", topic=topic))
    try:
        if everything:
            count = operations.redrive_unredriven(kafka_settings(), topic, actor=security.actor())
            flash(f"redrove {count} letter(s) not yet redriven from {topic}", "ok")
        else:
            chosen = operations.redrive_selected(
                kafka_settings(), topic, actor=security.actor(), positions=positions, reason=reason
            )
            listed = ", ".join(operations.position(found) for found in chosen)
            flash(f"redrove {len(chosen)} letter(s) from {topic}: {listed}", "ok")
    except operations.DeadLetterOperationFailed as error:
        flash(f"not redriven: {error}", "error")
    return redirect(url_for("dead_letters.topic", topic=topic))
