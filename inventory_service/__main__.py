"""`python -m inventory_service migrate|api|worker`."""

import sys
from pathlib import Path

from inventory_service.config import load_settings
from servicekit.cli import ServiceCommands, main


def _worker() -> int:
    from inventory_service.worker import main as worker_main

    return worker_main()


sys.exit(
    main(
        ServiceCommands(
            prog="inventory_service",
            migrations_dir=Path(__file__).parent / "migrations",
            database_url=lambda: load_settings().database_url,
            app_factory="inventory_service.api:create_app()",
            bind=lambda: f"{load_settings().bind_host}:{load_settings().port}",
            worker=_worker,
        )
    )
)
