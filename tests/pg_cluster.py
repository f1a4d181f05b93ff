"""A private PostgreSQL cluster for tests: initdb in a temporary folder, one loopback port.

Use it as a context manager or through the ``pg_cluster`` fixture factory::

    from tests.pg_cluster import PgCluster, pg_available

    with PgCluster.start() as pg:
        url = pg.create_database("journal")   # postgresql://sipguard@127.0.0.1:PORT/journal
        ...
        pg.restart()                          # same port, same data
        pg.stop(); pg.start_again()           # the database down for a while

PostgreSQL refuses to run as root, so when the tests run as root the cluster runs as the
``postgres`` user (or ``nobody``) through ``runuser``; the folder is created in the system
temporary directory and handed to that user.  Authentication is ``trust`` on loopback
only.  ``fsync`` stays on, so commits are as durable as on a real server.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

SUPERUSER = "sipguard"


def pg_bindir() -> Path | None:
    """The folder of ``initdb``, ``pg_ctl`` and ``postgres``; None if PostgreSQL is absent."""
    found = shutil.which("initdb")
    if found is not None and shutil.which("pg_ctl") is not None:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return versions[0].parent if versions else None


def pg_available() -> bool:
    """True if the PostgreSQL server binaries and the psycopg driver are installed."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return False
    return pg_bindir() is not None


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> str | None:
    """The user the server runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither 'postgres' nor 'nobody' exists")


class PgCluster:
    """One running private cluster; :meth:`close` stops it and removes its folder."""

    def __init__(self, folder: Path, port: int, user: str | None, bindir: Path) -> None:
        self.folder = folder
        self.port = port
        self.user = user
        self.bindir = bindir
        self.data = folder / "data"
        self.log = folder / "server.log"

    @classmethod
    def start(cls, port: int | None = None) -> PgCluster:
        """initdb a fresh cluster and start it on ``port`` (a free one by default)."""
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt install postgresql)")
        user = _run_as()
        folder = Path(tempfile.mkdtemp(prefix="sipguard-pg-"))
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster = cls(folder, port or free_port(), user, bindir)
        try:
            cluster._initdb()
            cluster.start_again()
        except BaseException:
            cluster.close()
            raise
        return cluster

    def _cmd(self, *argv: str) -> list[str]:
        base = [str(self.bindir / argv[0]), *argv[1:]]
        return base if self.user is None else ["runuser", "-u", self.user, "--", *base]

    def _initdb(self) -> None:
        subprocess.run(
            self._cmd("initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                      "-E", "UTF8", "--locale=C", "--no-sync"),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.folder,
        )  # fmt: skip

    def start_again(self, timeout: float = 30.0) -> None:
        """Start the (stopped) server on its port and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} "
            "-c shared_buffers=16MB -c max_connections=60 -c fsync=on"
        )
        subprocess.run(
            self._cmd("pg_ctl", "start", "-w", "-t", str(int(timeout)), "-D", str(self.data),
                      "-l", str(self.log), "-o", options),
            check=True, stdout=subprocess.DEVNULL, cwd=self.folder,
        )  # fmt: skip
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until a connection succeeds (RuntimeError with the server log if not)."""
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.server_log()}") from None
                time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: disconnect clients, ``immediate``: as after a crash)."""
        subprocess.run(
            self._cmd("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data)),
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder,
        )  # fmt: skip

    def restart(self, mode: str = "fast") -> None:
        """Stop and start again on the same port with the same data."""
        self.stop(mode)
        self.start_again()

    def url(self, database: str = "postgres") -> str:
        """The connection URL of ``database`` on this cluster."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (dropping an old one); return its URL."""
        import psycopg

        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def server_log(self) -> str:
        """The server's log so far (for failure messages)."""
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no server log)"

    def close(self) -> None:
        """Stop the server and delete the cluster's folder."""
        if self.data.exists():
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@contextlib.contextmanager
def running_cluster() -> Iterator[PgCluster]:
    """A started cluster for the ``with`` block (a module-scoped fixture's body)."""
    cluster = PgCluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


def _fixture() -> Iterator[PgCluster]:
    import pytest

    if not pg_available():
        pytest.skip("PostgreSQL server binaries or psycopg not installed")
    with running_cluster() as cluster:
        yield cluster


def pg_cluster_fixture(scope: str = "module") -> object:
    """A ``pg_cluster`` fixture to bind in a conftest: ``pg_cluster = pg_cluster_fixture()``."""
    import pytest

    return pytest.fixture(scope=scope, name="pg_cluster")(_fixture)  # type: ignore[call-overload]
