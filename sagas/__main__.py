"""`python -m sagas migrate|worker`: the orchestrator has no HTTP API of its own, so the runner
offers no `api` (the order service shows each saga; `shopctl sagas` lists, shows and retries
them)."""

import sys

from sagas.deployable import DEPLOYABLE
from servicekit.cli import run

if __name__ == "__main__":
    sys.exit(run(DEPLOYABLE))
