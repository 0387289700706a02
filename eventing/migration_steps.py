"""Alembic steps for the backbone's tables, shared by every service's migrations.

A released step is frozen: it describes the schema as it was when that migration was written,
so a later change to `eventing.sql` is a new step (and a new migration in each service), never
an edit here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql


def create_hold_tables() -> None:
    """dead_letter_holds, held_messages and discarded_letters (see eventing.held)."""
    op.create_table(
        "dead_letter_holds",
        sa.Column("consumer_group", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("message_key", sa.LargeBinary(), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("letter", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "held_since",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("consumer_group", "topic", "message_key"),
    )
    op.create_table(
        "held_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("consumer_group", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("message_key", sa.LargeBinary(), nullable=False),
        sa.Column("kafka_partition", sa.Integer(), nullable=False),
        sa.Column("kafka_offset", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column(
            "headers",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "held_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "consumer_group", "topic", "kafka_partition", "kafka_offset", name="held_messages_once"
        ),
    )
    op.create_index(
        "held_messages_in_order",
        "held_messages",
        ["consumer_group", "topic", "message_key", "id"],
        unique=False,
    )
    op.create_table(
        "discarded_letters",
        sa.Column("consumer_group", sa.Text(), nullable=False),
        sa.Column("letter", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "discarded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer_group", "letter"),
    )


def drop_hold_tables() -> None:
    op.drop_table("discarded_letters")
    op.drop_index("held_messages_in_order", table_name="held_messages")
    op.drop_table("held_messages")
    op.drop_table("dead_letter_holds")


def add_outbox_parking() -> None:
    """The outbox's park and discard columns, and the index of parked rows by key (see
    eventing.outbox: a row the broker can never take is parked)."""
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


def drop_outbox_parking() -> None:
    op.drop_index(
        "outbox_parked_by_key",
        table_name="outbox",
        postgresql_where=sa.text("parked_at IS NOT NULL AND discarded_at IS NULL"),
    )
    op.drop_column("outbox", "discard_reason")
    op.drop_column("outbox", "discarded_at")
    op.drop_column("outbox", "park_reason")
    op.drop_column("outbox", "parked_at")


OUTBOX_VACUUM = (
    "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 2000, "
    "autovacuum_vacuum_cost_delay = 0"
)
"""The outbox's own autovacuum: every row is updated once, when the relay marks it published,
and each update leaves a dead entry in the pending-row index the relay's claim query walks.
By default a table is vacuumed once a fifth of it is dead, so the walk grows with every row
published since the last vacuum (thousands a minute under load); vacuuming after a fixed 2,000
dead rows, without the cost-based pauses, keeps it short whatever the table's size."""


def tune_outbox_vacuum() -> None:
    op.execute(f"ALTER TABLE outbox SET ({OUTBOX_VACUUM})")


def reset_outbox_vacuum() -> None:
    op.execute(
        "ALTER TABLE outbox RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, "
        "autovacuum_vacuum_cost_delay)"
    )
