"""A throwaway PostgreSQL server for the tests and the journal benchmark.

It runs Debian's (or any) PostgreSQL binaries from a temporary folder, listens on 127.0.0.1 and a free port
only (no Unix socket), uses password authentication (so the tests see a real password they can check never
leaks), and is stopped by the process id this helper started.  PostgreSQL refuses to run as root: when we
are root, the server runs as the `postgres` user if there is one, else as `nobody`, with its folder owned by
that user.  POSIX only for the user switch; elsewhere it runs as the current user.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/opt/homebrew/opt/postgresql*/bin",
           "/usr/local/opt/postgresql*/bin")


def find_bin() -> Path | None:
    """The folder holding `initdb` and `postgres`, or None when PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found and shutil.which("postgres"):
        return Path(found).resolve().parent
    import glob

    for pattern in _SEARCH:
        for folder in sorted(glob.glob(pattern), reverse=True):  # newest version first
            if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
                return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> dict:
    """subprocess arguments that drop root for PostgreSQL (which refuses to run as root)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return {}
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL")


class TempPostgres:
    """One PostgreSQL server in a temporary folder; `url(db)` gives a password URL for a database."""

    def __init__(self, *, durable: bool = False, user: str = "hdredraw"):
        self.bin = find_bin()
        if self.bin is None:
            raise FileNotFoundError("PostgreSQL server binaries (initdb, postgres) not found")
        self.durable = durable  # False: fsync off, for fast tests; True: the server's defaults
        self.user = user
        self.password = "pw-" + secrets.token_hex(12)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.folder: Path | None = None
        self._spare: list[str] = []

    def url(self, dbname: str = "postgres", password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{self.user}:{pw}@127.0.0.1:{self.port}/{dbname}"

    def start(self, timeout: float = 60.0) -> TempPostgres:
        assert self.bin is not None
        as_user = _run_as()
        # The server's user must reach its folder: under root's own TMPDIR it may not, /tmp it always can.
        base = "/tmp" if as_user and os.path.isdir("/tmp") else None
        self.folder = Path(tempfile.mkdtemp(prefix="hdredraw-pg-", dir=base))
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if as_user:
            os.chown(self.folder, as_user["user"], as_user["group"])
            os.chown(pwfile, as_user["user"], as_user["group"])
        init = subprocess.run([str(self.bin / "initdb"), "-D", str(data), "-U", self.user, f"--pwfile={pwfile}",
                               "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "-E", "UTF8",
                               "--locale=C", *([] if self.durable else ["--no-sync"])],
                              capture_output=True, text=True, timeout=180, **as_user)
        if init.returncode != 0:
            self._cleanup()
            raise RuntimeError(f"initdb failed: {init.stderr.strip()[-2000:]}")
        pwfile.unlink()
        options = ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "max_connections=300",
                   "-c", "shared_buffers=32MB", "-c", "dynamic_shared_memory_type=mmap"]
        if not self.durable:
            options += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = open(self.folder / "server.log", "wb")  # noqa: SIM115 - kept open for the server's lifetime
        for _ in range(5):  # a port picked as free may be taken by the time the server binds it
            self.port = _free_port()
            self.proc = subprocess.Popen([str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port), *options],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **as_user)
            if self._wait_ready(timeout):
                log.close()
                return self
            self._stop_process()
        log.close()
        text = (self.folder / "server.log").read_text(errors="replace")[-2000:]
        self._cleanup()
        raise RuntimeError(f"PostgreSQL did not start: {text}")

    def _wait_ready(self, timeout: float) -> bool:
        import psycopg

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.1)
        return False

    def connect(self, dbname: str = "postgres") -> Any:
        """A superuser connection that runs each statement on its own (CREATE/DROP DATABASE need that)."""
        import psycopg

        return psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5)

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple]:
        """Run one statement outside a transaction as the superuser."""
        with self.connect(dbname) as conn:
            cur = conn.execute(sql)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def lend_database(self) -> str:
        """The URL of a database as empty as a new one, for one test; `give_back` it afterwards.

        CREATE DATABASE costs the server ~0.2 s of CPU (it copies the template, page by page); a database
        given back is emptied instead, in milliseconds, and lent again."""
        name = self._spare.pop() if self._spare else None
        if name is None:
            name = f"t_{secrets.token_hex(6)}"
            self.create_database(name)
        return self.url(name)

    def give_back(self, url: str) -> None:
        """Empty a lent database for the next borrower: connections allowed and ended, database settings
        reset, every schema dropped and `public` made again as a new database has it.  If any of that
        fails, the database is dropped instead."""
        name = url.rsplit("/", 1)[1]
        try:
            with self.connect() as conn:  # one connection for the three, not one each
                for sql in (f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true', f'ALTER DATABASE "{name}" RESET ALL',
                            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"):
                    conn.execute(sql)  # type: ignore[arg-type]
            self._empty(name)
        except Exception:  # noqa: BLE001 - whatever the test left, a dropped database cannot leak into the next
            self.drop_database(name)
            return
        self._spare.append(name)

    def _empty(self, name: str) -> None:
        with self.connect(name) as conn:
            schemas = [row[0] for row in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'")]
            with conn.transaction():
                for schema in schemas:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]
                conn.execute("CREATE SCHEMA public AUTHORIZATION pg_database_owner")
                conn.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)  # "fast" shutdown
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    def _cleanup(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def stop(self) -> None:
        """Stop the server this object started (by its pid) and remove its folder."""
        self._stop_process()
        self._cleanup()

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
