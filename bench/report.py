"""What every benchmark shares: where results go, the machine they were measured on, a table."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import psutil

#: Where results go: bench/results, or BENCH_RESULTS_DIR (the tests' smoke run uses a scratch one).
RESULTS = Path(os.environ.get("BENCH_RESULTS_DIR") or Path(__file__).parent / "results")


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def write_result(name: str, result: dict) -> Path:
    """bench/results/<name>.json, stamped with the time and the machine."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"benchmark": name, "at": datetime.now(UTC).isoformat(), "machine": machine()}
    path.write_text(json.dumps({**stamped, **result}, indent=2) + "\n")
    return path


def read_result(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:{width}}  {value:>16}")
