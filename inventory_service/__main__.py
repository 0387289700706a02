"""`python -m inventory_service migrate|api|worker`."""

import sys

from inventory_service.bootstrap import bootstrap
from inventory_service.config import load_settings
from servicekit.cli import service_main

sys.exit(service_main("inventory_service", load_settings, bootstrap))
