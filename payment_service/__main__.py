"""`python -m payment_service migrate|api|worker`."""

import sys

from payment_service.bootstrap import bootstrap
from payment_service.config import load_settings
from servicekit.cli import service_main

sys.exit(service_main("payment_service", load_settings, bootstrap))
