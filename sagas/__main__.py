"""`python -m sagas migrate|worker` (the orchestrator has no HTTP API of its own: the order
service shows each saga; `shopctl sagas` lists, shows and retries them)."""

import sys
from pathlib import Path

from sagas.config import load_settings
from servicekit.migrations import upgrade


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("migrate", "worker"):
        print("usage: python -m sagas migrate|worker", file=sys.stderr)
        return 2
    try:
        upgrade(Path(__file__).parent / "migrations", load_settings().database_url)
    except Exception as error:
        print(f"sagas: migrating the database failed: {error}", file=sys.stderr)
        return 1
    if command == "migrate":
        return 0
    from sagas.worker import main as worker_main

    return worker_main()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
