"""`python -m inventory_service migrate|api|worker`."""

import sys

from inventory_service.deployable import DEPLOYABLE
from servicekit.cli import run

sys.exit(run(DEPLOYABLE))
