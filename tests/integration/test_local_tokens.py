"""The local stack's tokens and production mode, through the real commands: the dev key is
made once, `shopctl token` prints tokens the services accept, and with
`EVENTSHOP_ENV=production` a service refuses to start on the dev key or the default admin
token (one readable line, a non-zero exit), and starts with secrets of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.customer_tokens import CustomerTokenSettings, CustomerTokenVerifier
from testkit.cli import run_shopctl
from testkit.scratch import scratch_database
from testkit.shop import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def state_dir(tmp_path) -> Path:
    """A state directory of the test's own, holding a dev key made as `make up` makes it."""
    made = subprocess.run(
        [sys.executable, "-m", "servicekit.customer_tokens"],
        env={**os.environ, "EVENTSHOP_STATE_DIR": str(tmp_path)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert Path(made.stdout.strip()) == tmp_path / "dev-keys" / "customer-token.pub.pem"
    return tmp_path


def _env(state_dir: Path, **variables: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMER_TOKEN_")}
    clean.pop("ADMIN_TOKEN", None)
    return {**clean, "EVENTSHOP_STATE_DIR": str(state_dir), **variables}


def test_the_dev_key_is_made_once_and_its_private_half_is_the_owners_only(state_dir):
    private = state_dir / "dev-keys" / "customer-token-signing.pem"
    before = private.read_bytes()
    subprocess.run(
        [sys.executable, "-m", "servicekit.customer_tokens"],
        env=_env(state_dir),
        cwd=REPO,
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert private.read_bytes() == before
    assert private.stat().st_mode & 0o777 == 0o600


def test_shopctl_prints_a_customer_token_the_dev_key_verifies_and_the_admin_token(
    state_dir, monkeypatch
):
    printed = run_shopctl("token", "customer", "demo-customer", "--ttl", "10m", env=_env(state_dir))
    assert printed.returncode == 0, printed.stderr
    monkeypatch.setenv("EVENTSHOP_STATE_DIR", str(state_dir))
    verifier = CustomerTokenVerifier.from_settings(CustomerTokenSettings())
    assert verifier.customer_id(printed.stdout.strip()) == "demo-customer"

    admin = run_shopctl("token", "admin", env=_env(state_dir, ADMIN_TOKEN="s3cret-admin"))
    assert admin.stdout == "s3cret-admin\n"
    assert run_shopctl("token", "admin", env=_env(state_dir)).stdout == "dev-admin-token\n"


def test_shopctl_token_without_a_dev_key_says_how_to_make_one(tmp_path):
    printed = run_shopctl("token", "customer", "c-1", env=_env(tmp_path))
    assert printed.returncode == 1
    assert printed.stderr.startswith("shopctl: no customer-token signing key at ")
    assert "make up" in printed.stderr and len(printed.stderr.splitlines()) == 1


def _service(state_dir: Path, command: str, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "order_service", command],
        env=_env(state_dir, EVENTSHOP_ENV="production", **variables),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command", ["api", "worker"])
def test_production_refuses_the_default_admin_token(state_dir, command):
    refused = _service(state_dir, command)
    assert refused.returncode == 2
    assert refused.stderr == (
        "order_service: EVENTSHOP_ENV=production refuses the default admin token; set ADMIN_TOKEN\n"
    )


def test_the_console_in_production_refuses_the_default_admin_token(state_dir):
    refused = subprocess.run(
        [sys.executable, "-m", "console", "serve"],
        env=_env(state_dir, EVENTSHOP_ENV="production"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (refused.returncode, refused.stderr) == (
        2,
        "console: EVENTSHOP_ENV=production refuses the default admin token; set ADMIN_TOKEN\n",
    )


@pytest.mark.parametrize("where", ["the dev key itself", "a copy of the dev key"])
def test_production_refuses_the_dev_customer_token_key(state_dir, tmp_path, where):
    dev_public = state_dir / "dev-keys" / "customer-token.pub.pem"
    key_file = dev_public
    if where == "a copy of the dev key":
        key_file = tmp_path / "looks-like-mine.pem"
        shutil.copy(dev_public, key_file)
    refused = _service(
        state_dir, "api", ADMIN_TOKEN="a-real-secret", CUSTOMER_TOKEN_PUBLIC_KEY_FILE=str(key_file)
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "order_service: EVENTSHOP_ENV=production refuses the local dev key for customer tokens"
    )
    assert len(refused.stderr.splitlines()) == 1


def test_production_starts_with_secrets_of_its_own(state_dir, customer_tokens):
    with scratch_database() as engine:
        migrated = _service(
            state_dir,
            "migrate",
            ADMIN_TOKEN="a-real-secret",
            ORDER_DATABASE_URL=engine.url.render_as_string(hide_password=False),
            **customer_tokens.env(),
        )
    assert migrated.returncode == 0, migrated.stderr


def test_an_api_without_a_readable_key_says_so_in_one_line(tmp_path):
    refused = subprocess.run(
        [sys.executable, "-m", "payment_service", "api"],
        env=_env(tmp_path),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith(
        "payment_service: customer tokens cannot be verified: no customer-token public key at "
    )
    assert len(refused.stderr.splitlines()) == 1
