"""Which server each part of the backbone talks to is declared, and the imports agree: a module
talks to Kafka when it imports a Kafka client, to PostgreSQL when it imports SQLAlchemy or
psycopg2. Outside `eventing/`, the shop's processes and tools reach Kafka only through it.
Reads the source; needs no server."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]

KAFKA, POSTGRESQL = "kafka", "postgresql"
KAFKA_CLIENTS = ("confluent_kafka", "faust", "aiokafka", "kafka")
POSTGRESQL_DRIVERS = ("sqlalchemy", "psycopg2")

#: Every module of `eventing/` and the servers it talks to (the map in eventing/__init__.py).
SERVERS: dict[str, set[str]] = {
    "__init__": set(),
    "config": set(),
    "consumer": {KAFKA, POSTGRESQL},
    "db_errors": {POSTGRESQL},
    "dead_letter_headers": set(),
    "delivered": {KAFKA},
    "envelope": set(),
    "errors": set(),
    "held": {POSTGRESQL},
    "inbox": {POSTGRESQL},
    "kafka_admin": {KAFKA},
    "kafka_dead_letters": {KAFKA},
    "kafka_offsets": {KAFKA},
    "kafka_reading": {KAFKA},
    "kafka_replay": {KAFKA},
    "metrics": {POSTGRESQL},
    "migration_steps": {POSTGRESQL},
    "notifications": {POSTGRESQL},
    "outbox": {KAFKA, POSTGRESQL},
    "outbox_admin": {POSTGRESQL},
    "producer": {KAFKA},
    "registry": set(),
    "retry": set(),
    "sql": {POSTGRESQL},
    "topics": set(),
    "tracing": set(),
}

#: Packages of the shop's processes and tools that must reach Kafka only through `eventing`.
#: Not in it: the search indexer (its faust app is a Kafka client of its own), the benchmarks
#: (they measure the broker directly) and the tests.
THROUGH_EVENTING = (
    "console",
    "contracts",
    "inventory_service",
    "order_service",
    "payment_service",
    "sagas",
    "scripts",
    "servicekit",
    "shopctl",
    "testkit",
)


def imported_roots(path: Path) -> set[str]:
    """The top-level packages a module imports, wherever in it the import is."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def servers_of(path: Path) -> set[str]:
    roots = imported_roots(path)
    servers = set()
    if roots & set(KAFKA_CLIENTS):
        servers.add(KAFKA)
    if roots & set(POSTGRESQL_DRIVERS):
        servers.add(POSTGRESQL)
    return servers


def test_every_eventing_module_talks_to_the_servers_it_is_declared_to():
    modules = {path.stem: path for path in (ROOT / "eventing").glob("*.py")}
    assert set(modules) == set(SERVERS), "declare a new module here and in eventing/__init__.py"
    assert {name: servers_of(path) for name, path in modules.items()} == SERVERS


def test_a_module_named_for_kafka_talks_to_kafka_only():
    for name, servers in SERVERS.items():
        if name.startswith("kafka_"):
            assert servers == {KAFKA}, name


def test_the_shops_processes_and_tools_reach_kafka_only_through_eventing():
    offenders = [
        str(path.relative_to(ROOT))
        for package in THROUGH_EVENTING
        for path in sorted((ROOT / package).rglob("*.py"))
        if KAFKA in servers_of(path)
    ]
    assert offenders == []
