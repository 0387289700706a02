"""The checkout benchmark's CPU accounting, process by process (no server)."""

from bench.checkout import cpu_by_group


def test_a_process_counts_what_it_used_between_the_two_reads():
    groups, exited = cpu_by_group({(10, 1.0): ("kafka", 5.0)}, {(10, 1.0): ("kafka", 7.5)})
    assert groups == {"kafka": 2.5}
    assert exited == {}


def test_a_process_that_exited_mid_run_is_left_out_and_counted_not_subtracted():
    before = {(10, 1.0): ("order_service:worker", 40.0), (11, 1.0): ("kafka", 1.0)}
    after = {(11, 1.0): ("kafka", 2.0)}
    groups, exited = cpu_by_group(before, after)
    assert groups == {"kafka": 1.0}
    assert exited == {"order_service:worker": 1}


def test_a_process_started_mid_run_counts_from_zero_and_a_reused_pid_is_another_process():
    before = {(10, 1.0): ("other", 30.0)}
    after = {(10, 9.0): ("other", 0.5)}
    groups, exited = cpu_by_group(before, after)
    assert groups == {"other": 0.5}
    assert exited == {"other": 1}
