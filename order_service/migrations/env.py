from order_service.orm import metadata
from servicekit.migrations import run_migrations

run_migrations(metadata)
