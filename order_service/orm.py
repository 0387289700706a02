"""The order service's tables: orders, idempotency keys, the per-customer rate-limit counters,
the product catalogue (a read model fed by inventory's events), and the checkout and
cancellation sagas (their orchestrator is the order service's own: `sagas`)."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)

from eventing.sql import hold_tables, inbox_table, outbox_table
from sagas.framework.store import SagaTables, saga_tables

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", Text, primary_key=True),
    Column("customer_id", Text, nullable=False),
    Column("payment_method", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("rejection_reason", Text),
    Column("cancellation_requested", Boolean, nullable=False, server_default="false"),
    Column("total_cents", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint("total_cents >= 0", name="orders_total_not_negative"),
    Index("orders_by_customer", "customer_id", "created_at"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("order_id", Text, ForeignKey("orders.order_id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("sku", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Integer, nullable=False),
    CheckConstraint("quantity >= 1", name="order_items_quantity_positive"),
    CheckConstraint("unit_price_cents >= 0", name="order_items_price_not_negative"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", Text, primary_key=True),
    Column("fingerprint", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

catalogue = Table(
    "catalogue",
    metadata,
    Column("sku", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("price_cents", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default="false"),
)

saga_instances, saga_log, saga_progress_seq = saga_tables(metadata)
sagas = SagaTables(saga_instances, saga_log, saga_progress_seq)

order_rate_limits = Table(
    "order_rate_limits",
    metadata,
    Column("customer_id", Text, primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("orders", Integer, nullable=False),
)
"""Each customer's orders in the current rate-limit window (`repository.SqlRateLimits`)."""

outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
holds = hold_tables(metadata)
