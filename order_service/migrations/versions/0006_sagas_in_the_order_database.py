"""the checkout and cancellation sagas move into the order service's database

Revision ID: 0006
Revises: 0005

The orchestrator now runs against the order service's database: its saga rows and step logs
live here, beside the orders they approve or reject in the same transaction, and `GET
/orders/{id}` reads an order's saga from them. `saga_views`, the copy of each saga's progress
fed by `sagas.progress`, goes. New tables and a dropped read model: nothing is rewritten.

Sagas still in flight in the orchestrator's former database are not moved: drain it first
(every saga ended, `shopctl sagas list --state RUNNING` empty) before deploying this.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("state IN ('RUNNING', 'COMPENSATING', 'ABORTING')")


def upgrade() -> None:
    op.create_table(
        "saga_instances",
        sa.Column("saga_id", sa.Uuid(), nullable=False),
        sa.Column("saga_type", sa.Text(), nullable=False),
        sa.Column("saga_key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("current_step", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("backing_off", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("step_deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("awaited_command_id", sa.Uuid(), nullable=True),
        sa.Column("unsent_reported_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("saga_id"),
        sa.UniqueConstraint("saga_type", "saga_key", name="saga_instances_type_key"),
    )
    op.create_index("saga_instances_due", "saga_instances", ["deadline"], postgresql_where=_ACTIVE)
    op.create_index("saga_instances_state", "saga_instances", ["state", "updated_at"])
    op.create_index("saga_instances_by_key", "saga_instances", ["saga_key", "created_at"])
    op.create_table(
        "saga_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("saga_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(["saga_id"], ["saga_instances.saga_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("saga_log_by_saga", "saga_log", ["saga_id", "id"])
    op.execute(sa.schema.CreateSequence(sa.Sequence("saga_progress_seq")))
    op.drop_table("saga_views")


def downgrade() -> None:
    op.create_table(
        "saga_views",
        sa.Column("order_id", sa.Text(), primary_key=True),
        sa.Column("saga_id", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("steps", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    )
    op.execute(sa.schema.DropSequence(sa.Sequence("saga_progress_seq")))
    op.drop_table("saga_log")
    op.drop_table("saga_instances")
