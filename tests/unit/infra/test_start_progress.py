"""The stack's start-up progress line (infra/lib.sh `last_log_line`): while a process starts, the
line shown is the newest one *this* run wrote, never one a previous run left in the appended
log."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _shell(state_dir: Path, script: str) -> str:
    return subprocess.run(
        ["bash", "-c", f'source "{REPO}/infra/lib.sh"; {script}'],
        env={
            "EVENTSHOP_STATE_DIR": str(state_dir),
            "EVENTSHOP_CACHE_DIR": str(state_dir / "cache"),
            "HOME": str(state_dir),
            "PATH": os.environ["PATH"],
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.strip()


def test_a_fresh_start_shows_nothing_of_the_previous_run(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "worker.log").write_text("the previous run's last words\n")

    shown = _shell(tmp_path, "start_daemon worker true; last_log_line worker")

    assert shown == "(nothing written yet)"


def test_the_newest_line_of_this_run_is_shown_as_its_message(tmp_path):
    (tmp_path / "logs").mkdir()
    log = tmp_path / "logs" / "worker.log"
    log.write_text("the previous run's last words\n")
    script = (
        "start_daemon worker true; echo '"
        + json.dumps({"message": "joining the consumer group", "level": "INFO"})
        + f"' >> '{log}'; last_log_line worker"
    )

    assert _shell(tmp_path, script) == "joining the consumer group"
