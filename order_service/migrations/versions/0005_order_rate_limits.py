"""per-customer rate limit on POST /orders: one counter row per customer

Revision ID: 0005
Revises: 0004

A new, empty table; nothing is rewritten, so it runs at any time.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_rate_limits",
        sa.Column("customer_id", sa.Text(), primary_key=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("orders", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_rate_limits")
