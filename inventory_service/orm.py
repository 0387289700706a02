"""Inventory's tables."""

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from eventing.sql import hold_tables, inbox_table, outbox_table

metadata = MetaData()

products = Table(
    "products",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("category", Text, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("attributes", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("stock_on_hand", Integer, nullable=False),
    Column("stock_reserved", Integer, nullable=False, server_default="0"),
    Column("version", Integer, nullable=False),
    Column("deleted_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("price_cents >= 0", name="products_price_not_negative"),
    CheckConstraint("stock_on_hand >= 0", name="products_on_hand_not_negative"),
    CheckConstraint("stock_reserved >= 0", name="products_reserved_not_negative"),
    CheckConstraint("stock_reserved <= stock_on_hand", name="products_reserved_within_on_hand"),
    Index("products_category", "category", "sku", postgresql_where=text("deleted_at IS NULL")),
)

reservations = Table(
    "reservations",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("status", Text, nullable=False),
    Column("items", JSONB, nullable=False),
    Column("failure_reason", Text),
    Column("failed_skus", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
holds = hold_tables(metadata)
