"""dead-letter holds: a dead letter holds back its key until it is redriven or discarded

Revision ID: 0003
Revises: 0002

Three new, empty tables (dead_letter_holds, held_messages, discarded_letters); nothing is
rewritten, so it runs at any time.
"""

from eventing.migration_steps import create_hold_tables, drop_hold_tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_hold_tables()


def downgrade() -> None:
    drop_hold_tables()
