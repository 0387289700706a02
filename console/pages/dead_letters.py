"""Dead letters: each dead-letter topic with its size and what its letters hold back; one
topic's letters grouped by reason; a letter's headers, payload, origin and held messages;
redrive of the selected letters, of all of a reason, or of every letter not yet redriven;
discard of a letter with a reason. All through `shopctl.dead_letters`, as `shopctl dlq` does."""

from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, request, url_for
from werkzeug.wrappers import Response

from console import security
from console.pages.common import kafka_settings
from console.rendering import render
from shopctl import dead_letters as operations
from shopctl.holds import hold_stores

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
    settings = kafka_settings()
    with hold_stores(settings) as stores:
        held = operations.held_per_topic(stores)
    return render("dead_letters.html", topics=operations.topics(settings), held=held)


@blueprint.get("/<topic>")
def topic(topic: str) -> str:
    settings = kafka_settings()
    try:
        found = operations.letters(settings, topic)
    except operations.DeadLetterOperationFailed as error:
        abort(404, description=str(error))
    with hold_stores(settings) as stores:
        held = {operations.position(f): operations.held_behind(stores, f) for f in found}
    return render(
        "dead_letter_topic.html",
        topic=topic,
        groups=operations.by_reason(found),
        total=len(found),
        position=operations.position,
        held=held,
    )


@blueprint.get("/<topic>/<at>")
def letter(topic: str, at: str) -> str:
    settings = kafka_settings()
    try:
        found = operations.letter(settings, topic, at)
    except operations.DeadLetterOperationFailed as error:
        abort(404, description=str(error))
    with hold_stores(settings) as stores:
        held = operations.held_behind(stores, found)
    return render(
        "dead_letter.html",
        topic=topic,
        letter=found,
        at=at,
        payload=payload_text(found.value),
        key=(found.key or b"").decode(errors="replace"),
        held=held,
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


@blueprint.post("/<topic>/<at>/discard")
def discard(topic: str, at: str) -> Response:
    reason = request.form.get("reason", "").strip()
    if not reason or len(reason) > 500 or not reason.isprintable():
        flash("say why the letter is discarded (printable text, up to 500 characters)", "error")
        return redirect(url_for("dead_letters.letter", topic=topic, at=at))
    try:
        outcome = operations.discard(
            kafka_settings(), topic, at, reason=reason, actor=security.actor()
        )
    except operations.DeadLetterOperationFailed as error:
        flash(f"not discarded: {error}", "error")
        return redirect(url_for("dead_letters.letter", topic=topic, at=at))
    flash(
        f"discarded {at}: released {outcome.released or 0} held message(s), applied in order "
        f"by {outcome.letter.group}",
        "ok",
    )
    return redirect(url_for("dead_letters.topic", topic=topic))
