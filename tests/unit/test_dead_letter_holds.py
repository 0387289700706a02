"""What a consumer does with a message given its key's dead-letter hold (eventing.held)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eventing.held import Hold, Verdict, can_hold, letter_name, verdict

LETTER = letter_name("orders.commands", 2, 41)
HOLD = Hold(topic="orders.commands", partition=2, key=b"order-1", letter=LETTER, reason="bug")
RELEASED = replace(HOLD, released=True, release_reason="discarded: gone")


def decide(hold, *, position="orders.commands[2]@57", redriven_letter=None, discarded=False):
    return verdict(hold, position=position, redriven_letter=redriven_letter, discarded=discarded)


def test_a_letter_is_named_by_the_position_it_was_taken_from():
    assert LETTER == "orders.commands[2]@41"


def test_a_message_whose_key_is_not_held_is_applied():
    assert decide(None) is Verdict.APPLY


def test_a_later_message_of_a_held_key_is_parked():
    assert decide(HOLD) is Verdict.PARK


def test_the_redriven_copy_of_the_letter_is_applied_as_the_letter():
    assert decide(HOLD, redriven_letter=LETTER) is Verdict.APPLY_LETTER


def test_the_letter_itself_redelivered_after_a_crash_is_applied_as_the_letter():
    assert decide(HOLD, position=LETTER) is Verdict.APPLY_LETTER


def test_a_copy_of_another_letter_of_the_same_key_is_parked_behind_the_one_holding_it():
    older = letter_name("orders.commands", 2, 7)
    assert decide(HOLD, redriven_letter=older) is Verdict.PARK


def test_once_a_hold_is_released_even_the_letters_copy_waits_behind_what_is_held():
    assert decide(RELEASED, redriven_letter=LETTER) is Verdict.PARK
    assert decide(RELEASED) is Verdict.PARK


@pytest.mark.parametrize("hold", [None, HOLD, RELEASED], ids=["not-held", "held", "released"])
def test_a_redriven_copy_of_a_discarded_letter_is_never_applied(hold):
    assert decide(hold, redriven_letter=LETTER, discarded=True) is Verdict.SKIP_DISCARDED


def test_messages_without_a_key_are_never_held():
    assert not can_hold(None)
    assert not can_hold(b"")
    assert can_hold(b"order-1")
