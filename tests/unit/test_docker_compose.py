"""docker-compose.yml runs the same stack as infra/ (`make up`), from official images.

No Docker engine runs where the tests do, so these read both descriptions and hold them to the
same meaning: the same server versions, settings, databases, ports and shop processes."""

from __future__ import annotations

import json
import re
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def shell_default(ctl: str, name: str) -> str:
    """The default a `infra/*/ctl` script gives a variable (`NAME="${NAME:-x}"` or `NAME=x`)."""
    text = (INFRA / ctl).read_text()
    match = re.search(rf'^{name}="\$\{{{name}:-([^}}]*)\}}"$', text, re.M) or re.search(
        rf"^{name}=(\S+)$", text, re.M
    )
    assert match, f"{name} is not set in infra/{ctl}"
    return match.group(1)


def maven_property(pom: str, name: str) -> str:
    match = re.search(rf"<{re.escape(name)}>([^<]+)</{re.escape(name)}>", (INFRA / pom).read_text())
    assert match, f"{name} is not in infra/{pom}"
    return match.group(1)


def properties(template: str, separator: str) -> dict[str, str]:
    """`key=value` or `key: value` lines of a config template, comments left out."""
    pairs = {}
    for line in (INFRA / template).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(separator, 1)
            pairs[key.strip()] = value.strip()
    return pairs


def image_tag(service: str) -> str:
    return COMPOSE[service]["image"].rsplit(":", 1)[1]


def published(service: str) -> list[str]:
    return COMPOSE[service].get("ports", [])


def test_each_server_image_is_the_release_the_local_stack_runs():
    assert image_tag("kafka") == maven_property("kafka/pom.xml", "kafka.version")
    assert image_tag("elasticsearch") == maven_property(
        "elasticsearch/pom.xml", "elasticsearch.version"
    )
    assert image_tag("jaeger") == shell_default("jaeger/ctl", "JAEGER_RELEASE")


#: Where the two Kafkas must differ: containers reach the broker over the compose network,
#: the local one listens on loopback only.
KAFKA_ADDRESSING = {
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "inter.broker.listener.name",
    "controller.quorum.voters",
    "log.dirs",
}


def test_kafka_has_the_local_brokers_settings():
    local = properties("kafka/server.properties.template", "=")
    environment = COMPOSE["kafka"]["environment"]
    settings = {
        key.removeprefix("KAFKA_").lower().replace("_", "."): str(value)
        for key, value in environment.items()
        if key.startswith("KAFKA_") and key != "KAFKA_HEAP_OPTS"
    }
    compared = {key: value for key, value in settings.items() if key not in KAFKA_ADDRESSING}
    assert compared == {key: local.get(key) for key in compared}
    heap = shell_default("kafka/ctl", "KAFKA_HEAP")
    assert environment["KAFKA_HEAP_OPTS"] == f"-Xms{heap} -Xmx{heap}"


def test_elasticsearch_has_the_local_nodes_settings():
    local = properties("elasticsearch/elasticsearch.yml.template", ":")
    environment = COMPOSE["elasticsearch"]["environment"]
    settings = {key: str(value) for key, value in environment.items() if "." in key}
    assert settings == {key: local.get(key) for key in settings}
    assert {
        "discovery.type",
        "xpack.security.enabled",
        "action.auto_create_index",
    } <= settings.keys()
    heap = shell_default("elasticsearch/ctl", "ES_HEAP")
    assert environment["ES_JAVA_OPTS"] == f"-Xms{heap} -Xmx{heap}"


def test_postgres_has_the_local_servers_settings_and_databases():
    local = dict(re.findall(r"-c (\w+)=(\S+)", (INFRA / "postgres/ctl").read_text()))
    command = COMPOSE["postgres"]["command"]
    settings = dict(arg.split("=", 1) for flag, arg in pairwise(command) if flag == "-c")
    assert settings and settings == {key: local.get(key) for key in settings}
    created = re.findall(r"CREATE DATABASE (\w+)", (INFRA / "postgres/docker-init.sql").read_text())
    assert created == shell_default("postgres/ctl", "POSTGRES_DATABASES").split()


def test_jaeger_runs_the_local_config():
    [mount] = COMPOSE["jaeger"]["volumes"]
    assert mount.split(":")[0] == "./infra/jaeger/config.yaml"
    assert '--config "$INFRA_DIR/jaeger/config.yaml"' in (INFRA / "jaeger/ctl").read_text()


def local_processes() -> dict[str, str]:
    """infra/services/ctl's processes: name -> the arguments of `python -m`."""
    text = (INFRA / "services/ctl").read_text()
    return dict(re.findall(r'^  "([\w-]+)\|([\w ]+)\|', text, re.M))


def test_every_shop_process_runs_with_the_same_command():
    processes = local_processes()
    assert len(processes) == 11
    for name, arguments in processes.items():
        assert COMPOSE[name]["command"] == ["python", "-m", *arguments.split()], name


@pytest.mark.parametrize(
    ("service", "port"),
    [
        ("postgres", shell_default("postgres/ctl", "POSTGRES_PORT")),
        ("kafka", shell_default("kafka/ctl", "KAFKA_PORT")),
        ("elasticsearch", shell_default("elasticsearch/ctl", "ES_PORT")),
        ("jaeger", shell_default("jaeger/ctl", "JAEGER_UI_PORT")),
        ("jaeger", shell_default("jaeger/ctl", "JAEGER_OTLP_GRPC_PORT")),
        ("jaeger", shell_default("jaeger/ctl", "JAEGER_OTLP_HTTP_PORT")),
        ("jaeger", shell_default("jaeger/ctl", "JAEGER_METRICS_PORT")),
        ("order-api", "8000"),
        ("inventory-api", "8001"),
        ("payment-api", "8002"),
        ("search-api", "8003"),
        ("console", "8004"),
        ("storefront", "8005"),
        ("prometheus", "9090"),
        ("grafana", "3000"),
    ],
)
def test_each_port_is_published_on_loopback_at_the_local_default(service, port):
    assert f"127.0.0.1:{port}:{port}" in published(service)


def test_nothing_is_published_beyond_loopback():
    for service, definition in COMPOSE.items():
        for mapping in definition.get("ports", []):
            assert mapping.startswith("127.0.0.1:"), (service, mapping)


def mounts(service: str) -> dict[str, str]:
    """A service's bind mounts: path in the container -> path in the repository."""
    return {
        inside: outside
        for outside, inside, *_ in (m.split(":") for m in COMPOSE[service]["volumes"])
    }


def test_prometheus_is_the_release_promtool_is_built_from():
    """Prometheus 3 tags its Go module v0.3MM.P for release v3.MM.P."""
    module = shell_default("prometheus/ctl", "PROMETHEUS_MODULE_VERSION")
    minor, patch = re.fullmatch(r"v0\.3(\d\d)\.(\d+)", module).groups()
    assert image_tag("prometheus") == f"v3.{int(minor)}.{patch}"


def test_prometheus_scrapes_jaeger_and_evaluates_the_tested_rules():
    config = yaml.safe_load((INFRA / "prometheus/prometheus.yml").read_text())
    [rule_file] = config["rule_files"]
    assert mounts("prometheus")[rule_file] == "./infra/prometheus/alerts.yml"
    [scrape] = config["scrape_configs"]
    assert scrape["honor_labels"], "the exporter's job and instance labels must be kept"
    metrics_port = shell_default("jaeger/ctl", "JAEGER_METRICS_PORT")
    assert scrape["static_configs"] == [{"targets": [f"jaeger:{metrics_port}"]}]


def test_grafana_provisions_the_dashboard_over_prometheus():
    provisioning = mounts("grafana")
    assert provisioning["/etc/grafana/provisioning"] == "./infra/grafana/provisioning"
    grafana = INFRA / "grafana"
    [source] = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())[
        "datasources"
    ]
    assert source["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((grafana / "provisioning/dashboards/eventshop.yml").read_text())[
        "providers"
    ]
    assert provisioning[provider["options"]["path"]] == "./infra/grafana/dashboards"
    dashboard = json.loads((grafana / "dashboards/eventshop.json").read_text())
    targets = [target for panel in dashboard["panels"] for target in panel["targets"]]
    assert targets and all(t["datasource"]["uid"] == source["uid"] for t in targets)


def metric_names(expr: str) -> set[str]:
    """The metrics a PromQL expression reads: its snake_case names less its labels."""
    labels = {
        label.strip() for group in re.findall(r"by \(([^)]*)\)", expr) for label in group.split(",")
    }
    labels |= set(re.findall(r"(\w+)=~?\"", expr))
    return set(re.findall(r"\b[a-z]+(?:_[a-z0-9]+)+\b", expr)) - labels


def test_the_dashboard_shows_what_every_alert_watches():
    rules = yaml.safe_load((INFRA / "prometheus/alerts.yml").read_text())
    dashboard = (INFRA / "grafana/dashboards/eventshop.json").read_text()
    watched = set().union(
        *(metric_names(rule["expr"]) for group in rules["groups"] for rule in group["rules"])
    )
    assert "kafka_consumer_group_lag" in watched and "saga_type" not in watched
    assert {name for name in watched if name not in dashboard} == set()
