"""Payment's tables."""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)

from eventing.sql import hold_tables, inbox_table, outbox_table

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("payment_id", Uuid, primary_key=True),
    Column("order_id", Text, nullable=False, unique=True),
    Column("customer_id", Text, nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("decline_reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("amount_cents >= 0", name="payments_amount_not_negative"),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
holds = hold_tables(metadata)
