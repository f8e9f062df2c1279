"""A throwaway PostgreSQL cluster from Debian's packages, on loopback, run as an unprivileged user.

``initdb`` and ``postgres`` refuse to run as root, so when the tests run as root (CI, this
machine) both are started as ``FLOE_PG_USER`` (default ``floe-pg``, created by
``.ci/setup-test-servers.sh``) through ``setpriv``, which execs in place: the pid we supervise is
the postmaster itself, so stopping it is a plain fast shutdown.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2

from tests.servers import binaries
from tests.servers._process import ManagedProcess, ServerStartError, clean_env, free_port

DEFAULT_OS_USER = "floe-pg"


def _privilege_drop() -> tuple[list[str], int | None, int | None]:
    """The command prefix that runs a child as the unprivileged user, and that user's ids."""
    if os.geteuid() != 0:
        return [], None, None
    name = os.environ.get("FLOE_PG_USER", DEFAULT_OS_USER)
    try:
        user = pwd.getpwnam(name)
    except KeyError as e:
        raise ServerStartError(
            f"PostgreSQL cannot run as root and the unprivileged user '{name}' does not exist: "
            f"{binaries.SETUP_HINT}"
        ) from e
    prefix = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups"]
    return prefix, user.pw_uid, user.pw_gid


class PostgresServer:
    """One PostgreSQL cluster with a password-authenticated superuser.

    Attributes:
        host / port: where it listens (127.0.0.1 and a free port; no Unix socket).
        user / password: the superuser tests connect as (SCRAM password authentication).
        dbname: the default database (``postgres``).
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.host = "127.0.0.1"
        self.port = free_port()
        self.user = "floe"
        self.password = secrets.token_hex(16)
        self.dbname = "postgres"
        self.log_file = workdir / "postgres.log"
        self.bin_dir = binaries.postgres_bin_dir()
        self._prefix, self._uid, self._gid = _privilege_drop()
        # pytest's temp dirs are private to root, so the cluster lives in a directory of its own
        # that the unprivileged user owns; it is removed at stop.
        self.base = Path(tempfile.mkdtemp(prefix="floe-pg-"))
        self.data_dir = self.base / "data"
        self.process: ManagedProcess | None = None
        self.ready_after = 0.0

    def dsn(self, dbname: str | None = None) -> str:
        """A libpq URL for the superuser; the password is hex, so it needs no escaping."""
        return (
            f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/"
            f"{dbname or self.dbname}"
        )

    def _chown(self, path: Path) -> None:
        if self._uid is not None and self._gid is not None:
            os.chown(path, self._uid, self._gid)

    def _initdb(self) -> None:
        self._chown(self.base)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        argv = [
            *self._prefix,
            str(self.bin_dir / "initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={self.user}",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            result = subprocess.run(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                env=clean_env(),
                timeout=120,
                check=False,
            )
        pwfile.unlink()
        if result.returncode != 0:
            raise ManagedProcess("initdb", argv, log_file=self.log_file).failure(
                f"initdb failed with status {result.returncode}"
            )

    def _ready(self) -> bool:
        connection = psycopg2.connect(self.dsn(), connect_timeout=2)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                return bool(cursor.fetchone() == (1,))
        finally:
            connection.close()

    def start(self, timeout: float = 60) -> float:
        """initdb, start the postmaster, wait until the superuser can log in with its password.

        Returns:
            Seconds from initdb to the first successful login.
        """
        began = time.monotonic()
        self._initdb()
        self.process = ManagedProcess(
            "postgres",
            [
                *self._prefix,
                str(self.bin_dir / "postgres"),
                "-D",
                str(self.data_dir),
                "-c",
                f"listen_addresses={self.host}",
                "-c",
                f"port={self.port}",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=50",
            ],
            log_file=self.log_file,
            env=clean_env(),
            cwd=self.base,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, exit cleanly
        )
        self.process.start()
        self.process.wait_ready(self._ready, timeout=timeout, interval=0.2)
        self.ready_after = time.monotonic() - began
        return self.ready_after

    def stop(self) -> None:
        """Stop the cluster and remove its data directory."""
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.base, ignore_errors=True)
