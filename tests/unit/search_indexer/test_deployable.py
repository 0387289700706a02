"""The search indexer declared as one of the shop's deployables: what the registry of
deployables reads from it, and its command line (no server needed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eventing import topics
from search_indexer.__main__ import main
from search_indexer.config import Settings
from search_indexer.deployable import DEPLOYABLE
from servicekit.deployable import deployable_of
from testkit.shop import REPO


def test_it_is_declared_under_its_service_name_which_is_its_consumer_group():
    assert deployable_of("search_indexer") is DEPLOYABLE
    assert DEPLOYABLE.name == DEPLOYABLE.consumer_group == "search-indexer"
    assert Settings().consumer_group == Settings().service_name == DEPLOYABLE.name
    assert DEPLOYABLE.topics == (topics.PRODUCTS,), "a logical topic name"


def test_it_runs_on_a_runtime_of_its_own_with_no_database_to_migrate():
    assert not DEPLOYABLE.runs_on_shared_runtime
    assert DEPLOYABLE.commands == ("api", "worker", "rebuild")
    with pytest.raises(TypeError, match="search-indexer"):
        DEPLOYABLE.runtime()


def test_its_api_is_the_search_api_reading_elasticsearch_not_a_database():
    assert DEPLOYABLE.api_app is not None
    app = DEPLOYABLE.api_app(Settings(elasticsearch_url="http://127.0.0.1:9"))
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "elasticsearch" in ready.json["detail"]
    assert "database" not in ready.json["detail"]


def python(*code_or_args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_listing_it_imports_neither_faust_nor_elasticsearch():
    result = python(
        "-c",
        "import sys, search_indexer.deployable; "
        "print(sorted(m for m in ('faust', 'elasticsearch') if m in sys.modules))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_an_unknown_command_is_refused_with_the_commands_it_offers(capsys):
    assert main(["migrate"]) == 2
    assert "python -m search_indexer api|worker|rebuild" in capsys.readouterr().err
