"""Servers of their own, for failure drills: a Kafka broker, a PostgreSQL cluster and an
Elasticsearch node started by the same `infra/*/ctl` scripts as the local stack, but on free
ports and in a state directory of their own, so a drill may `kill -9` them without touching the
shared stack other tests (and the developer's own shop) run on.

Each server is its own process group (the scripts start it with `setsid`): `kill()` sends
SIGKILL to the whole group, a crash with no chance to flush or deregister; `up()` starts it
again on the same data, as an operator's `infra/stack up kafka` would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from testkit.conditions import wait_for
from testkit.ports import free_port
from testkit.shop import Servers

REPO = Path(__file__).resolve().parents[1]
COMPONENTS = ("postgres", "kafka", "elasticsearch")
SERVER_START_TIMEOUT_S = 300.0


@dataclass
class PrivateServer:
    """One server of a private stack; `env` is what its `infra/<name>/ctl` script reads."""

    name: str
    env: dict[str, str]
    state_dir: Path
    start_timeout_s: float = SERVER_START_TIMEOUT_S

    def up(self) -> float:
        """Start the server (again) and wait until it is healthy; returns the seconds it took."""
        started = time.monotonic()
        result = subprocess.run(
            [str(REPO / "infra" / self.name / "ctl"), "up"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.start_timeout_s,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"private {self.name} did not start:\n{result.stderr[-3000:]}\n{self.log_tail()}"
            )
        return time.monotonic() - started

    def down(self) -> None:
        subprocess.run(
            [str(REPO / "infra" / self.name / "ctl"), "down"],
            env=self.env,
            capture_output=True,
            timeout=120,
        )

    @property
    def pid(self) -> int | None:
        pid_file = self.state_dir / "run" / f"{self.name}.pid"
        try:
            return int(pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def kill(self) -> None:
        """`kill -9` the server's process group and wait until every process of it is gone."""
        pid = self.pid
        assert pid is not None, f"private {self.name} is not running"
        os.killpg(pid, signal.SIGKILL)
        wait_for(lambda: not _group_alive(pid), 60, f"private {self.name} to die")

    def freeze(self) -> None:
        """SIGSTOP the server's process group: alive, its port still taking connections (into
        the kernel's backlog), answering nothing, as in a long GC pause or a hung host."""
        pid = self.pid
        assert pid is not None, f"private {self.name} is not running"
        os.killpg(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT: a frozen server carries on where it stopped."""
        pid = self.pid
        assert pid is not None, f"private {self.name} is not running"
        os.killpg(pid, signal.SIGCONT)

    def log_tail(self, lines: int = 40) -> str:
        log = self.state_dir / "logs" / f"{self.name}.log"
        if not log.exists():
            return f"(no log at {log})"
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class PrivateStack:
    servers: dict[str, PrivateServer] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> PrivateServer:
        return self.servers[name]

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports['kafka']}"

    @property
    def postgres_url_template(self) -> str:
        """A libpq URL with a `{database}` placeholder, like `TEST_POSTGRES_URL_TEMPLATE`."""
        return f"postgresql://eventshop:eventshop@127.0.0.1:{self.ports['postgres']}/{{database}}"

    @property
    def elasticsearch_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['elasticsearch']}"

    def addresses(self) -> Servers:
        """Where a shop on this stack finds its servers (`ShopOptions(servers=...)`)."""
        return Servers(
            kafka_bootstrap=self.kafka_bootstrap if "kafka" in self.servers else None,
            postgres_url_template=(
                self.postgres_url_template
                if "postgres" in self.servers
                else Servers().postgres_url_template
            ),
            elasticsearch_url=self.elasticsearch_url if "elasticsearch" in self.servers else None,
        )


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still there, zombies included: a server checks the
    pid in its lock file (PostgreSQL's postmaster.pid), and a zombie not yet reaped still has
    it."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == pgid:
            return True
    return False


@contextmanager
def private_stack(components: Iterable[str] = COMPONENTS) -> Iterator[PrivateStack]:
    """Start the named servers on free ports in a new state directory; stop and remove them
    on exit. Downloads come from the shared cache (`EVENTSHOP_CACHE_DIR`), so once `make up`
    has run, a private stack needs no network."""
    names = [name for name in COMPONENTS if name in set(components)]
    root = Path(tempfile.mkdtemp(prefix="eventshop-private-"))
    root.chmod(0o755)  # as root, PostgreSQL and Elasticsearch run as users of their own
    stack = PrivateStack()
    stack.ports = {
        "postgres": free_port(),
        "kafka": free_port(),
        "kafka_controller": free_port(),
        "elasticsearch": free_port(),
        "elasticsearch_transport": free_port(),
    }
    env = {
        **os.environ,
        "EVENTSHOP_STATE_DIR": str(root),
        "EVENTSHOP_LOG_DIR": str(root / "logs"),
        "POSTGRES_PORT": str(stack.ports["postgres"]),
        "POSTGRES_HOME": str(root / "postgres"),
        "KAFKA_PORT": str(stack.ports["kafka"]),
        "KAFKA_CONTROLLER_PORT": str(stack.ports["kafka_controller"]),
        "ES_PORT": str(stack.ports["elasticsearch"]),
        "ES_TRANSPORT_PORT": str(stack.ports["elasticsearch_transport"]),
        "ES_BASE": str(root / "elasticsearch"),
        # The scripts wait for their server as long as `up()` waits for them: restarting
        # Elasticsearch on a loaded 2-core machine took longer than its script's 120 s.
        **{
            f"{name}_START_TIMEOUT": str(int(SERVER_START_TIMEOUT_S) - 20)
            for name in ("POSTGRES", "KAFKA", "ES")
        },
    }
    try:
        for name in names:
            stack.servers[name] = PrivateServer(name, env, root)
            stack.servers[name].up()
        yield stack
    finally:
        for name in reversed(list(stack.servers)):
            stack.servers[name].down()
        subprocess.run(["rm", "-rf", str(root)], check=False)
