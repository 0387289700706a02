"""`python -m order_service migrate|api|worker`."""

import sys

from order_service.deployable import DEPLOYABLE
from servicekit.cli import run

sys.exit(run(DEPLOYABLE))
