"""The registry of the shop's deployables (`servicekit.registry`) says what each package is: its
settings, its command line and, once it declares one, its `Deployable` agree with its entry."""

from __future__ import annotations

import subprocess
import sys
import typing
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from servicekit import registry
from servicekit.registry import SHOP, Entry, Process, Role

ROOT = Path(__file__).resolve().parents[2]

#: Whether every entry that `declares_deployable` has its `<package>/deployable.py` yet. Until
#: issue 16's migration is merged the check below is off: the lead turns it on then.
EVERY_DEPLOYABLE_DECLARED = True


def by_name(entry: Entry) -> str:
    return entry.name


def settings_class(entry: Entry) -> Any:
    """The pydantic settings class the package's `config.load_settings` returns."""
    return typing.get_type_hints(import_module(f"{entry.package}.config").load_settings)["return"]


def declared(entry: Entry) -> bool:
    return entry.declares_deployable and (ROOT / entry.package / "deployable.py").exists()


def test_the_registry_imports_no_service_and_no_adapter():
    """shopctl, testkit and the tests list the shop without loading what runs it."""
    heavy = ["flask", "sqlalchemy", "confluent_kafka", "pydantic", "eventing", "contracts"]
    heavy += [entry.package for entry in SHOP]
    script = (
        "import sys, servicekit.registry; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_shop_is_its_seven_deployables():
    assert [entry.name for entry in SHOP] == [
        "inventory-service",
        "payment-service",
        "order-service",
        "checkout-saga",
        "search-indexer",
        "console",
        "storefront",
    ]


def test_names_packages_processes_ports_and_labels_are_each_used_once():
    processes = [process for _, process in registry.processes()]
    labels = [process.status_label for process in processes if process.status_label]
    ports = [entry.port for entry in SHOP if entry.port is not None]
    for values in (
        [entry.name for entry in SHOP],
        [entry.package for entry in SHOP],
        [entry.env_prefix for entry in SHOP],
        [process.name for process in processes],
        labels,
        ports,
    ):
        assert len(values) == len(set(values)), values


def test_the_web_apps_are_started_last_because_they_read_the_rest():
    roles = [process.role for _, process in registry.processes()]
    first_web_app = roles.index(Role.SERVE)
    assert set(roles[first_web_app:]) == {Role.SERVE}
    assert registry.entry("console").processes == (Process(Role.SERVE, "console", None),)


@pytest.mark.parametrize("entry", SHOP, ids=by_name)
def test_each_entry_is_a_runnable_package(entry):
    assert (ROOT / entry.package / "__main__.py").is_file()
    assert entry.processes, "a deployable runs at least one process"
    assert (entry.port is not None) == any(p.role.listens for p in entry.processes)
    assert entry.consumer_group == (entry.name if entry.worker else None)


@pytest.mark.parametrize("entry", SHOP, ids=by_name)
def test_each_entry_has_the_name_prefix_and_port_its_settings_have(entry):
    settings = settings_class(entry)
    assert settings.model_config["env_prefix"] == entry.env_prefix
    assert settings.model_fields["service_name"].default == entry.name
    if entry.port is None:
        assert "port" not in settings.model_fields
    else:
        assert settings.model_fields["port"].default == entry.port


@pytest.mark.parametrize("entry", SHOP, ids=by_name)
def test_an_entry_owns_a_database_exactly_when_it_has_migrations_and_a_database_url(entry):
    has_migrations = (ROOT / entry.package / "migrations").is_dir()
    assert has_migrations == entry.database
    assert ("database_url" in settings_class(entry).model_fields) == entry.uses_database


def test_an_entry_sharing_a_database_migrates_and_reads_the_owners():
    saga = registry.entry("checkout-saga")
    owner = registry.entry(saga.database_of or "")
    assert owner.database and saga.uses_database and not saga.database
    assert registry.load(saga).schema_package == owner.package
    assert saga not in registry.with_database() and saga in registry.on_databases()
    url = "postgresql+psycopg2://u:p@127.0.0.1:5432/orders-elsewhere"
    with pytest.MonkeyPatch.context() as env:
        env.delenv(saga.database_url_variable, raising=False)
        env.setenv(owner.database_url_variable, url)
        assert settings_class(saga)().database_url == url


def test_a_replay_runs_only_through_a_worker_with_a_database():
    for entry in SHOP:
        if entry.replayable:
            assert entry.worker is not None and entry.uses_database, entry.name


def test_the_services_apis_are_found_through_their_url_variables():
    for entry in SHOP:
        if entry.api is not None:
            assert entry.url_variable == f"{entry.env_prefix.removesuffix('_')}_SERVICE_URL"


def test_an_entry_is_found_by_its_name_or_its_package():
    assert registry.entry("checkout-saga") is registry.entry("sagas")
    with pytest.raises(LookupError, match="no deployable 'storefrnt'"):
        registry.entry("storefrnt")


def test_a_workers_static_group_membership_is_its_package_and_instance():
    assert registry.group_instance_id("sagas", 2) == "sagas-worker-2"
    assert registry.group_instance_id("order_service") == "order_service-worker-1"


def test_the_console_declares_no_deployable():
    with pytest.raises(LookupError, match="console declares no deployable"):
        registry.load(registry.entry("console"))


@pytest.mark.parametrize("entry", [e for e in SHOP if declared(e)], ids=by_name)
def test_a_declared_deployable_is_what_its_entry_says(entry):
    deployable = registry.load(entry)
    assert (deployable.name, deployable.package) == (entry.name, entry.package)
    assert deployable.consumer_group == entry.name
    assert ("api" in deployable.commands) == (entry.api is not None)
    assert ("worker" in deployable.commands) == (entry.worker is not None)
    if entry.replayable:
        assert deployable.topics, f"{entry.name}: a replay needs a handler of consumed topics"


@pytest.mark.skipif(
    not EVERY_DEPLOYABLE_DECLARED, reason="until every service declares DEPLOYABLE (issue 16)"
)
@pytest.mark.parametrize("entry", [e for e in SHOP if e.declares_deployable], ids=by_name)
def test_every_entry_that_declares_a_deployable_has_one(entry):
    assert declared(entry), f"{entry.package}/deployable.py is missing"
