"""`python -m payment_service migrate|api|worker`."""

import sys

from payment_service.deployable import DEPLOYABLE
from servicekit.cli import run

sys.exit(run(DEPLOYABLE))
