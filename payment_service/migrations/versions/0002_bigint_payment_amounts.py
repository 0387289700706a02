"""payment amounts in bigint cents, as large as the order totals they pay

Revision ID: 0002
Revises: 0001

Widening integer to bigint rewrites the table under an exclusive lock: run it when payments are
few or in a quiet hour.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("payments", "amount_cents", type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    op.alter_column("payments", "amount_cents", type_=sa.Integer(), existing_nullable=False)
