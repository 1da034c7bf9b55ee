"""A throwaway PostgreSQL server for the tests: started by the test session itself on a Unix socket in a temporary
folder (the Debian packages' binaries; `.ci/run` installs them), one fresh database per test.

Where no server can be started the PostgreSQL tests are skipped with the reason printed (``-ra``), never silently.
``NEXUS_TEST_PG_URL`` points the tests at an existing server instead (a database the tests may create databases in).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid


def _binaries() -> tuple[str, str] | None:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(f"{d}/initdb") and os.path.exists(f"{d}/pg_ctl"):
            return f"{d}/initdb", f"{d}/pg_ctl"
    return None


class PgServer:
    def __init__(self, settings: str = "-c fsync=off") -> None:
        self.settings = settings  # server settings beyond the socket and port (the benchmarks keep fsync on)
        self.base: str | None = None
        self.admin_url: str | None = None
        self.skip_reason: str | None = None
        self._run_as: list[str] = []
        self._pg_ctl: str | None = None
        self._data: str | None = None

    def start(self) -> "PgServer":
        try:
            import psycopg  # noqa: F401
        except ImportError:
            self.skip_reason = "psycopg is not installed: pip install -e '.[test]'"
            return self
        env_url = os.environ.get("NEXUS_TEST_PG_URL")
        if env_url:
            self.admin_url = env_url
            return self
        bins = _binaries()
        if bins is None:
            self.skip_reason = "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
            return self
        initdb, self._pg_ctl = bins
        self.base = tempfile.mkdtemp(prefix="nexus-pg-")
        if os.geteuid() == 0:  # initdb refuses root: run the server as the postgres user
            import pwd

            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.skip_reason = "running as root and there is no postgres user to run the server as"
                return self
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
            self._run_as = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self._data = os.path.join(self.base, "data")
        try:
            subprocess.run(self._run_as + [initdb, "-D", self._data, "-A", "trust", "-U", "postgres"], check=True,
                           capture_output=True, timeout=120)
            opts = f"-k {self.base} -p {port} -c listen_addresses=127.0.0.1 {self.settings} -c max_connections=200"
            subprocess.run(self._run_as + [self._pg_ctl, "-D", self._data, "-o", opts, "-l",
                                           os.path.join(self.base, "log"), "-w", "start"],
                           check=True, capture_output=True, timeout=120)
        except (subprocess.SubprocessError, OSError) as e:
            detail = getattr(e, "stderr", b"") or b""
            self.skip_reason = f"cannot start PostgreSQL: {e} {detail.decode(errors='replace')[:300]}"
            return self
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        return self

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(_libpq(self.admin_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def stop(self) -> None:
        if self._pg_ctl and self._data and os.path.isdir(self._data):
            subprocess.run(self._run_as + [self._pg_ctl, "-D", self._data, "-m", "immediate", "stop"],
                           capture_output=True, timeout=60)
        if self.base:
            shutil.rmtree(self.base, ignore_errors=True)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
