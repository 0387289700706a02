"""`python -m order_service migrate|api|worker`."""

import sys

from order_service.bootstrap import bootstrap
from order_service.config import load_settings
from servicekit.cli import service_main

sys.exit(service_main("order_service", load_settings, bootstrap))
