"""The orchestrator's database: saga instances, their step logs, outbox and inbox."""

from sqlalchemy import MetaData

from eventing.sql import hold_tables, inbox_table, outbox_table
from sagas.framework.store import SagaTables, saga_tables

metadata = MetaData()
saga_instances, saga_log, saga_progress_seq = saga_tables(metadata)
tables = SagaTables(saga_instances, saga_log, saga_progress_seq)
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
holds = hold_tables(metadata)
