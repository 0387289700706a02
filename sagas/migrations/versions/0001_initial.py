"""saga instances, step log, outbox and inbox

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("message_key", sa.Text(), nullable=False),
        sa.Column("lane", sa.SmallInteger(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.Column(
            "headers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    op.create_index(
        "outbox_pending_by_lane",
        "outbox",
        ["lane", "id"],
        unique=False,
        postgresql_where=sa.text("published_at IS NULL"),
    )
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
    op.create_index(
        "saga_instances_due",
        "saga_instances",
        ["deadline"],
        unique=False,
        postgresql_where=sa.text("state IN ('RUNNING', 'COMPENSATING', 'ABORTING')"),
    )
    op.create_index("saga_instances_state", "saga_instances", ["state", "updated_at"], unique=False)
    op.create_table(
        "saga_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("saga_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["saga_id"],
            ["saga_instances.saga_id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("saga_log_by_saga", "saga_log", ["saga_id", "id"], unique=False)
    op.execute(sa.schema.CreateSequence(sa.Sequence("saga_progress_seq")))


def downgrade() -> None:
    op.execute(sa.schema.DropSequence(sa.Sequence("saga_progress_seq")))
    op.drop_index("saga_log_by_saga", table_name="saga_log")
    op.drop_table("saga_log")
    op.drop_index("saga_instances_state", table_name="saga_instances")
    op.drop_index(
        "saga_instances_due",
        table_name="saga_instances",
        postgresql_where=sa.text("state IN ('RUNNING', 'COMPENSATING', 'ABORTING')"),
    )
    op.drop_table("saga_instances")
    op.drop_index(
        "outbox_pending_by_lane",
        table_name="outbox",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox")
    op.drop_table("inbox")
