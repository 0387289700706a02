"""The event backbone every service shares: envelopes, topics, outbox, inbox, Kafka clients.

Which server each module talks to (by the driver it imports; `tests/unit/test_eventing_layout.py`
holds the package to this map, and holds every other package of the shop's processes and tools
to opening no Kafka client of its own):

- Kafka: `consumer` (also keeps its holds in PostgreSQL, through `held`), `producer`,
  `delivered` (typed reads of a consumed message), `kafka_admin` (topics, readiness),
  `kafka_offsets` (offsets, extents, groups, lag), `kafka_reading` (an offset range without a
  group), `kafka_replay` (replays), `kafka_dead_letters` (reading and redriving dead letters).
- PostgreSQL: `sql` (the tables), `inbox`, `held` (the keys dead letters hold back),
  `outbox_admin` (parked rows), `notifications` (LISTEN/NOTIFY), `db_errors`,
  `migration_steps`, `metrics` (the outbox gauges; it reads lag through `kafka_offsets`).
- Both: `outbox` (rows written in the caller's transaction; `OutboxRelay` publishes them).
- Neither: `config`, `envelope`, `registry`, `topics`, `errors`, `retry` (the one backoff),
  `dead_letter_headers`, `tracing`.
"""
