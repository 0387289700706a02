"""A dead letter's headers: what the consumer writes, what `shopctl dlq` and the console read
back, and what a redriven copy keeps. Pure functions and values; no server."""

from __future__ import annotations

import re
from pathlib import Path

from eventing import dead_letter_headers as dlq
from eventing.kafka_dead_letters import DeadLetter, redriven_copy

ROOT = Path(__file__).parents[2]


def _letter_headers(**overrides: str) -> dict[str, str]:
    headers = dlq.dead_letter_headers(
        headers={"traceparent": "00-abc-def-01", "event_type": "ReserveStock"},
        topic="t1.inventory.commands",
        partition=2,
        offset=41,
        group_id="t1.inventory-service",
        error=ValueError("no such order"),
        attempts=5,
    )
    return headers | overrides


def _letter(**overrides: str) -> DeadLetter:
    return DeadLetter(
        "t1.inventory.commands.dlq", 0, 7, b"order-1", b"{}", _letter_headers(**overrides)
    )


def test_a_dead_letter_keeps_its_headers_and_says_where_it_came_from_and_why():
    headers = _letter_headers()
    assert headers["traceparent"] == "00-abc-def-01"
    assert {
        name: headers[name]
        for name in (
            "dlq.original.topic",
            "dlq.original.partition",
            "dlq.original.offset",
            "dlq.consumer.group",
            "dlq.error.class",
            "dlq.error.message",
            "dlq.attempts",
        )
    } == {
        "dlq.original.topic": "t1.inventory.commands",
        "dlq.original.partition": "2",
        "dlq.original.offset": "41",
        "dlq.consumer.group": "t1.inventory-service",
        "dlq.error.class": "ValueError",
        "dlq.error.message": "no such order",
        "dlq.attempts": "5",
    }
    assert "dlq.failed_at" in headers


def test_a_long_error_message_is_cut_to_its_first_2000_characters():
    headers = dlq.reason_headers(error_class="E", error_message="x" * 5000, attempts=1)
    assert len(headers[dlq.ERROR_MESSAGE]) == 2000


def test_a_letter_reads_back_where_it_came_from_who_gave_up_and_why():
    letter = _letter()
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        "t1.inventory.commands",
        2,
        41,
    )
    assert (letter.group, letter.attempts) == ("t1.inventory-service", 5)
    assert letter.reason == "ValueError: no such order"
    assert letter.name == "t1.inventory.commands[2]@41"
    assert not letter.is_parked_outbox_stub


def test_a_letter_without_its_headers_is_read_from_its_topic_and_unknowns_stay_unknown():
    letter = DeadLetter("orders.commands.dlq", 0, 3, None, None, {dlq.ATTEMPTS: "many"})
    assert letter.original_topic == "orders.commands"
    assert (letter.original_offset, letter.attempts, letter.group) == (None, None, None)
    assert letter.reason == "?: "


def test_a_redriven_copy_keeps_the_attempts_and_names_the_letter_but_drops_the_reasons():
    copy = redriven_copy(_letter())
    assert copy.topic == "t1.inventory.commands"
    assert (copy.key, copy.value) == (b"order-1", b"{}")
    assert copy.headers == {
        "traceparent": "00-abc-def-01",
        "event_type": "ReserveStock",
        "dlq.attempts": "5",
        "dlq.redriven.from": "t1.inventory.commands.dlq[0]@7",
        "dlq.letter": "t1.inventory.commands[2]@41",
    }


def test_a_redriven_copy_counts_its_retries_on_from_the_letters_attempts():
    assert dlq.attempts_of(redriven_copy(_letter()).headers) == 5
    assert dlq.attempts_of({}) == 0
    assert dlq.attempts_of({dlq.ATTEMPTS: "not a number"}) == 0


def test_a_stub_of_a_parked_outbox_row_is_known_by_its_header():
    assert _letter(**{dlq.OUTBOX_PARKED_EVENT_ID: "e-1"}).is_parked_outbox_stub


#: Code that reads or writes dead letters: it names their headers through the module only.
DEAD_LETTER_CODE = ("eventing", "shopctl", "console", "servicekit", "sagas", "testkit")


def test_no_code_outside_the_module_spells_a_dead_letter_header():
    spelled = re.compile(
        r"""["']dlq\.(original|consumer|error|attempts|failed_at|redriven|letter|outbox)"""
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in DEAD_LETTER_CODE
        for path in sorted((ROOT / package).rglob("*.py"))
        if path != ROOT / "eventing" / "dead_letter_headers.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if spelled.search(line)
    ]
    assert offenders == []
