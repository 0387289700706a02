"""outbox rows the broker can never take are parked, and hold back the later rows of their key

Revision ID: 0003
Revises: 0002

Four nullable columns and an index over no rows yet: instant on a table of any size.
"""

from eventing.migration_steps import add_outbox_parking, drop_outbox_parking

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_outbox_parking()


def downgrade() -> None:
    drop_outbox_parking()
