"""`infra/services/ctl` (`make up`) and `docker-compose.yml` start exactly the shop's deployables
of `servicekit.registry`: every API, worker and web app under the same name, with the same
command, port and static consumer-group membership, so that the lists cannot drift apart."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from servicekit import registry
from servicekit.registry import Entry, Process, Role

ROOT = Path(__file__).resolve().parents[3]
CTL = (ROOT / "infra/services/ctl").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
PROCESSES = list(registry.processes())
EACH_PROCESS = [pytest.param(entry, process, id=process.name) for entry, process in PROCESSES]


def ctl_processes() -> list[tuple[str, ...]]:
    """infra/services/ctl's `PROCESSES` rows: name, `python -m` arguments, health URL, group."""
    block = re.search(r"^PROCESSES=\(\n(.*?)^\)", CTL, re.M | re.S)
    assert block, "no PROCESSES=( ... ) list in infra/services/ctl"
    rows = re.findall(r'^\s*"([^"]*)"\s*$', block.group(1), re.M)
    return [tuple(row.split("|")) for row in rows]


def ctl_row(entry: Entry, process: Process) -> tuple[str, ...]:
    """The row infra/services/ctl should have for a process of the registry."""
    health = ""
    if process.role.listens:
        health = f"http://127.0.0.1:${{{entry.port_variable}:-{entry.port}}}/healthz"
    group = entry.consumer_group if process.role is Role.WORKER else ""
    return (process.name, " ".join(entry.command(process.role)), health, group or "")


def ctl_group_instance_id(command: str) -> str:
    """What infra/services/ctl sets as `KAFKA_GROUP_INSTANCE_ID` for `python -m <command>`: its
    own rule, taken from the script and run by bash."""
    [rule] = re.findall(r"^\s*(\[\[ .* \]\] && instance_id=.*)$", CTL, re.M)
    script = f'command="$1"; instance_id=""; {rule}; printf %s "$instance_id"'
    return subprocess.run(
        ["bash", "-c", script, "-", command],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def compose_shop_services() -> dict[str, list[str]]:
    """docker-compose.yml's services that run a deployable: name -> command."""
    packages = {entry.package for entry in registry.SHOP}
    return {
        name: service["command"]
        for name, service in COMPOSE.items()
        if service.get("command", [])[:2] == ["python", "-m"] and service["command"][2] in packages
    }


def test_ctl_starts_every_process_of_the_registry_in_its_order():
    assert ctl_processes() == [ctl_row(entry, process) for entry, process in PROCESSES]


@pytest.mark.parametrize(("entry", "process"), EACH_PROCESS)
def test_ctl_gives_each_worker_its_static_group_membership(entry, process):
    expected = registry.group_instance_id(entry.package) if process.role is Role.WORKER else ""
    assert ctl_group_instance_id(" ".join(entry.command(process.role))) == expected


def test_compose_runs_every_process_of_the_registry_and_no_other():
    assert compose_shop_services() == {
        process.name: ["python", "-m", *entry.command(process.role)] for entry, process in PROCESSES
    }


@pytest.mark.parametrize(("entry", "process"), EACH_PROCESS)
def test_compose_publishes_what_listens_on_loopback_at_its_port(entry, process):
    ports = COMPOSE[process.name].get("ports", [])
    if process.role.listens:
        assert ports == [f"127.0.0.1:{entry.port}:{entry.port}"]
    else:
        assert ports == []


@pytest.mark.parametrize(("entry", "process"), EACH_PROCESS)
def test_compose_gives_each_worker_its_static_group_membership(entry, process):
    environment = COMPOSE[process.name]["environment"]
    if process.role is Role.WORKER:
        assert environment["KAFKA_GROUP_INSTANCE_ID"] == registry.group_instance_id(entry.package)
    else:
        assert "KAFKA_GROUP_INSTANCE_ID" not in environment


@pytest.mark.parametrize(("entry", "process"), EACH_PROCESS)
def test_compose_gives_each_process_its_database(entry, process):
    environment = COMPOSE[process.name]["environment"]
    if entry.database:
        assert environment[entry.database_url_variable].startswith("postgresql+psycopg2://")


def test_the_composed_console_reads_each_api_at_its_compose_name_and_port():
    environment = COMPOSE[registry.entry("console").processes[0].name]["environment"]
    for entry in registry.SHOP:
        if entry.api is not None and entry.url_variable is not None:
            assert environment[entry.url_variable] == f"http://{entry.api.name}:{entry.port}"
