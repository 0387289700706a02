"""saga deadlines count from the publish of the awaited command; steps retry with backoff

Revision ID: 0004
Revises: 0003

Four columns on saga_instances, nullable or with a constant default: instant on a table of
any size (PostgreSQL 11+ stores a constant default without rewriting). Rows written before it
await no known command, so their deadlines stay as written; `backing_off` false is what they
were doing (waiting for a reply).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "saga_instances",
        sa.Column("backing_off", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "saga_instances", sa.Column("step_deadline", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("saga_instances", sa.Column("awaited_command_id", sa.Uuid(), nullable=True))
    op.add_column("saga_instances", sa.Column("unsent_reported_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("saga_instances", "unsent_reported_id")
    op.drop_column("saga_instances", "awaited_command_id")
    op.drop_column("saga_instances", "step_deadline")
    op.drop_column("saga_instances", "backing_off")
