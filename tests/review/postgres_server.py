"""A throwaway PostgreSQL server for the test session (initdb into a temporary folder).

Started only when a test asks for PostgreSQL; listens on 127.0.0.1 at a free port (and on a
unix socket in its folder) with trust authentication for local connections only. initdb and
postgres refuse to run as root, so under root they run as the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"
SERVER_SETTINGS = {  # a test server: nothing needs to survive a crash
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
    "shared_buffers": "32MB",
    "log_min_messages": "warning",
    # Not UTC, with a half-hour offset: a timestamp shifted by the session time zone shows.
    "timezone": "'Asia/Kolkata'",
}
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found in PATH or /usr/lib/postgresql/*/bin; "
    "run `bash scripts/ensure-postgres.sh` (installs Debian's postgresql package), as `make test` does"
)


class PostgresUnavailable(RuntimeError):
    """The server cannot be started here (the message says why and what to do)."""


def find_bin_dir() -> Path:
    """The folder holding initdb and pg_ctl: PATH first, then Debian's versioned folders."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True):
        if all(os.access(Path(folder, tool), os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return Path(folder)
    raise PostgresUnavailable(INSTALL_HINT)


def _version_key(folder: str) -> tuple[int, ...]:
    version = Path(folder).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl start in a fresh folder; :meth:`stop` shuts it down and removes it."""

    def __init__(self) -> None:
        self.bin_dir = find_bin_dir()
        self.run_as = self._run_as()
        self.base = Path(tempfile.mkdtemp(prefix="customs-risk-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = 0
        self._names = itertools.count(1)
        self._started = False

    @staticmethod
    def _run_as() -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresUnavailable(
                "tests run as root but there is no 'postgres' system user to run the server as "
                "(installing Debian's postgresql package creates it: bash scripts/ensure-postgres.sh)"
            ) from None

    # ------------------------------------------------------------ lifecycle
    def start(self) -> PostgresServer:
        """Create the cluster and start the server (on failure, remove what was made)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> PostgresServer:
        if self.run_as is not None:
            os.chown(self.base, self.run_as.pw_uid, self.run_as.pw_gid)
        self._initdb()
        (self.data / "pg_hba.conf").write_text(HBA)
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.base}'"}
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n# customs-risk test server\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        output = ""
        for _attempt in range(3):  # the free port may be taken between asking and listening
            self.port = free_port()
            start = ["-D", self.data, "-l", self.log, "-w", "-t", "60", "-o", f"-p {self.port}", "start"]
            result = self._tool("pg_ctl", *start, check=False)
            if result.returncode == 0:
                self._started = True
                return self
            output = result.stdout
        raise PostgresUnavailable(f"pg_ctl start failed:\n{output}\n{self._log_tail()}")

    def _initdb(self) -> None:
        common = ["-D", self.data, "-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--no-sync"]
        # A natural-language collation (ICU en-US), as production databases usually have: the
        # store must not depend on the database's collation (SQLite compares code points).
        icu_options = ["--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US"]
        icu = self._tool("initdb", *common, *icu_options, check=False)
        if icu.returncode == 0:
            return
        shutil.rmtree(self.data, ignore_errors=True)
        plain = self._tool("initdb", *common, "--locale=C.UTF-8", check=False)
        if plain.returncode != 0:
            raise PostgresUnavailable(f"initdb failed:\n{icu.stdout}\n{plain.stdout}")

    def stop(self) -> None:
        """Fast shutdown (also after failed tests) and remove the folder."""
        try:
            if self._started:
                stop = ["-D", self.data, "-m", "fast", "-w", "-t", "30", "stop"]
                result = self._tool("pg_ctl", *stop, check=False)
                if result.returncode != 0:
                    self._kill_postmaster()
        finally:
            self._started = False
            shutil.rmtree(self.base, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown of the server this fixture started
        except (OSError, ValueError, IndexError):
            pass

    def _tool(self, name: str, *args: object, check: bool = True) -> subprocess.CompletedProcess:
        extra = {}
        if self.run_as is not None:
            extra = {"user": self.run_as.pw_uid, "group": self.run_as.pw_gid, "extra_groups": []}
        result = subprocess.run(
            [str(self.bin_dir / name), *map(str, args)],
            cwd=self.base,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "LC_ALL": "C.UTF-8"},
            check=False,
            **extra,
        )
        if check and result.returncode != 0:
            raise PostgresUnavailable(f"{name} failed:\n{result.stdout}")
        return result

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text().splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    # ------------------------------------------------------------ databases
    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str) -> None:
        """Run statements outside a transaction (CREATE/DROP DATABASE) on the maintenance database."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            for statement in statements:
                conn.execute(statement)

    def create_database(self, prefix: str = "test", template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``, which nobody may be connected to)."""
        name = f"{prefix}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name
