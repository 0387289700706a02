"""outbox rows the broker can never take are parked, and hold back the later rows of their key

Revision ID: 0003
Revises: 0002

Four nullable columns and an index over no rows yet: instant on a table of any size.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("park_reason", sa.Text(), nullable=True))
    op.add_column("outbox", sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("discard_reason", sa.Text(), nullable=True))
    op.create_index(
        "outbox_parked_by_key",
        "outbox",
        ["topic", "message_key", "id"],
        unique=False,
        postgresql_where=sa.text("parked_at IS NOT NULL AND discarded_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index(
        "outbox_parked_by_key",
        table_name="outbox",
        postgresql_where=sa.text("parked_at IS NOT NULL AND discarded_at IS NULL"),
    )
    op.drop_column("outbox", "discard_reason")
    op.drop_column("outbox", "discarded_at")
    op.drop_column("outbox", "park_reason")
    op.drop_column("outbox", "parked_at")
