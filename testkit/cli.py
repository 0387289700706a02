"""Running the real `shopctl` command, as an operator would, from tests and drills."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping

from testkit.shop import REPO


def run_shopctl(
    *args: str, env: Mapping[str, str] | None = None, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """`python -m shopctl ARGS` from the repository, its output captured as text; `env` None
    inherits this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "shopctl", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=None if env is None else dict(env),
        cwd=REPO,
    )
