"""The alerting rules (infra/prometheus/alerts.yml) are valid Prometheus rules, and fire when
they should and only then (infra/prometheus/alerts_test.yml), as promtool says. promtool is
built by `infra/prometheus/ctl build` (part of infra/bootstrap, so of `make test`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

RULES = Path(__file__).resolve().parents[2] / "infra" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    """The built promtool's path (building it first, once, if it is missing)."""
    built = subprocess.run(
        [str(RULES / "ctl"), "promtool"], capture_output=True, text=True, timeout=1800
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def run(promtool: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def test_the_alerting_rules_are_valid(promtool):
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_only_then(promtool):
    tested = run(promtool, "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested():
    rules = yaml.safe_load((RULES / "alerts.yml").read_text())
    tests = yaml.safe_load((RULES / "alerts_test.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in tests["tests"] for case in test["alert_rule_test"]}
    assert alerts == tested
