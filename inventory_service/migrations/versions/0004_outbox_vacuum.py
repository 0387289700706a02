"""the outbox is vacuumed after a fixed number of dead rows, not a fifth of the table

Revision ID: 0004
Revises: 0003

A storage parameter of the table (`eventing.migration_steps.OUTBOX_VACUUM`): nothing is
rewritten and nothing is locked for longer than the catalogue update, so it runs at any time.
"""

from eventing.migration_steps import reset_outbox_vacuum, tune_outbox_vacuum

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tune_outbox_vacuum()


def downgrade() -> None:
    reset_outbox_vacuum()
