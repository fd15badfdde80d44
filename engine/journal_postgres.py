"""The journal in PostgreSQL: one journal for every worker that points at the same database.

Set `HDREDRAW_JOURNAL_URL=postgresql://user@host/db` on each worker (studio ComfyUIs, a farm, serverless
containers) and they share rows and leases: the same request is submitted once whichever worker gets it, a
task one worker submitted is resumed by the next, and per-account numbers add up across all of them.

- Leases live in `hdredraw_leases` with an expiry on the *database's* clock (workers' clocks may disagree);
  taking one is a single `INSERT … ON CONFLICT DO UPDATE … WHERE expired or ours`, so two workers can never
  both win.  A dead worker's lease lapses `lease_seconds` after its last renewal.
- A submission row is started under a transaction-level advisory lock on the fingerprint, and refused if the
  request already has a live row (a run that lost its lease while paused can then never pay twice).
- The schema is created and migrated by the pack, one worker at a time (advisory lock), each step recorded
  in `hdredraw_schema`.  Results are never stored here: rows keep task ids, file hashes and result URLs;
  the files stay on each worker's disk, and a worker without them fetches them again from the service.
- The driver, psycopg 3, is imported only when a PostgreSQL URL is set; the password never appears in a
  message or a log line (it is registered with `redact`, and messages name the database without it).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from . import owners
from .errors import JournalError
from .journal_base import (
    ADOPTED_PREFIX,
    DEFAULT_CACHE_MB,
    DONE,
    FAILED,
    LEASE_SECONDS,
    PENDING,
    SUBMITTING,
    UNCERTAIN,
    AccountStats,
    Entry,
    JournalBase,
    already_started,
    log,
    merge_stats,
    number,
    start_of_today,
    where_clause,
)
from .redact import redact, register_secret

T = TypeVar("T")
MAX_IDLE = 16  # connections kept open between calls (a batch runs a few threads at once)

# Append a migration as (version, script); never edit a released one.  A table of learned prices, for
# example, would come as (2, "CREATE TABLE hdredraw_prices (account TEXT, op_id TEXT, ...)").
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE hdredraw_tasks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    op_id TEXT NOT NULL,
    task_id TEXT,
    status TEXT NOT NULL,
    params JSONB NOT NULL DEFAULT '{}',
    upload_sha256 TEXT,
    variation INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    submitted_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION,
    remaining_count NUMERIC,
    remaining_money NUMERIC,
    result JSONB,
    error TEXT,
    account TEXT
);
CREATE INDEX hdredraw_tasks_fp ON hdredraw_tasks (fingerprint, id);
CREATE INDEX hdredraw_tasks_tid ON hdredraw_tasks (task_id);
CREATE INDEX hdredraw_tasks_account ON hdredraw_tasks (account, submitted_at);
CREATE INDEX hdredraw_tasks_op ON hdredraw_tasks (op_id, status, id);
CREATE TABLE hdredraw_leases (
    fingerprint TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires TIMESTAMPTZ NOT NULL
);
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
_EXPIRES = "clock_timestamp() + %s * interval '1 second'"


def describe_url(url: str) -> str:
    """The URL as it may be shown: scheme, user, host, port and database, never the password."""
    parts = urlsplit(url)
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user = unquote(userinfo.split(":", 1)[0]) if userinfo else ""
    return f"{parts.scheme}://{user + '@' if user else ''}{hosts}{parts.path}"


def url_password(url: str) -> str | None:
    """The password a URL carries (in its user part or as ?password=), to be masked everywhere."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        return unquote(userinfo.split(":", 1)[1])
    return (parse_qs(parts.query).get("password") or [None])[0]


def _driver() -> Any:
    try:
        import psycopg
    except ImportError:
        raise JournalError(
            "HDREDRAW_JOURNAL_URL points at PostgreSQL, but its driver is not installed. Install it into the Python "
            "that runs ComfyUI (or the hdredraw command): python -m pip install \"psycopg[binary]\"; or unset "
            "HDREDRAW_JOURNAL_URL to use the local SQLite journal.",
            "HDREDRAW_JOURNAL_URL 指向 PostgreSQL,但未安装其驱动。请在运行 ComfyUI(或 hdredraw 命令)的 Python 中安装:"
            "python -m pip install \"psycopg[binary]\";或取消设置 HDREDRAW_JOURNAL_URL 以使用本地 SQLite 任务记录。") from None
    return psycopg


class PostgresJournal(JournalBase):
    backend = "postgresql"

    def __init__(self, url: str, directory: str | os.PathLike[str], cache_mb: int = DEFAULT_CACHE_MB,
                 lease_seconds: float = LEASE_SECONDS, connect_timeout: float = 10.0):
        register_secret(url_password(url))
        register_secret(os.environ.get("PGPASSWORD"))
        self.location = describe_url(url)
        self._pg = _driver()
        super().__init__(directory, cache_mb, lease_seconds)
        self._url = url
        self._connect_timeout = max(2, int(connect_timeout))
        self._idle: list[Any] = []
        self._pool_lock = threading.Lock()
        self._tx(self._migrate, atomic=True)

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> Any:
        from psycopg.rows import dict_row

        conn = self._pg.connect(self._url, autocommit=True, connect_timeout=self._connect_timeout,
                                application_name="hdredraw", row_factory=dict_row, keepalives=1, keepalives_idle=30,
                                keepalives_interval=10, keepalives_count=3, prepare_threshold=None)
        # No server-side prepared statements: transaction-mode poolers (PgBouncer, serverless proxies) hand
        # each transaction to any server connection.  A worker frozen mid-transaction must not hold a row lock
        # for ever.
        conn.execute("SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = '30s'")
        return conn

    def _take(self) -> tuple[Any, bool]:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _give_back(self, conn: Any) -> None:
        with self._pool_lock:
            if not conn.closed and not conn.broken and len(self._idle) < MAX_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _tx(self, work: Callable[[Any], T], atomic: bool = False) -> T:
        """Run `work(cursor)` on a pooled connection: in one transaction when `atomic`, else statement by
        statement (each its own transaction: one round trip, where a transaction costs three).

        Every statement run without `atomic` is idempotent, so when a pooled connection turns out dead (server
        restarted, idle connection dropped) the call is repeated once on a fresh one; an atomic one is repeated
        only if its commit was never sent (the server rolled back whatever it had begun).
        """
        pg = self._pg
        for attempt in (0, 1):
            conn, reused, committing = None, False, False
            try:
                conn, reused = self._take()
                with conn.cursor() as cur:
                    if atomic:
                        with conn.transaction():
                            out = work(cur)
                            committing = True
                    else:
                        out = work(cur)
            except pg.Error as exc:
                if conn is not None:
                    conn.close()
                if attempt == 0 and reused and conn.broken and not committing:
                    continue
                raise self._error(exc) from None
            except BaseException:  # ours (e.g. already_started) or an interrupt: keep the connection only if idle
                if conn is not None:
                    if conn.info.transaction_status == pg.pq.TransactionStatus.IDLE:
                        self._give_back(conn)
                    else:
                        conn.close()
                raise
            self._give_back(conn)
            return out
        raise AssertionError("unreachable")

    def _error(self, exc: BaseException) -> JournalError:
        """One clear message, in both languages, for everything that can go wrong with the database."""
        text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        low = text.lower()
        where = self.location
        if "password" in low or "authentication" in low:
            what_en, what_zh = "rejected the user name or password", "拒绝了用户名或密码"
            do_en = "Check the user and password in HDREDRAW_JOURNAL_URL (or PGPASSWORD / ~/.pgpass)"
            do_zh = "请检查 HDREDRAW_JOURNAL_URL 中的用户名和密码(或 PGPASSWORD / ~/.pgpass)"
        elif "does not exist" in low and "database" in low:
            what_en, what_zh = "does not exist", "不存在"
            do_en, do_zh = "Create it (createdb NAME) or fix the URL", "请先创建(createdb 名称)或修正地址"
        elif "pg_hba" in low:
            what_en, what_zh = "does not accept connections from this machine", "不接受来自本机的连接"
            do_en, do_zh = "Allow this machine in the server's pg_hba.conf", "请在服务器的 pg_hba.conf 中允许本机"
        elif isinstance(exc, self._pg.errors.InsufficientPrivilege):
            what_en, what_zh = "does not let this user create or use the journal's tables", "不允许该用户创建或使用任务记录表"
            do_en = "Grant the user CREATE on the schema, or open the journal once as the database owner"
            do_zh = "请授予该用户在此 schema 上的 CREATE 权限,或先以数据库所有者身份打开一次"
        elif isinstance(exc, self._pg.OperationalError):
            what_en, what_zh = "cannot be reached", "无法连接"
            do_en = ("Check that the server is running and reachable from this machine (host, port, firewall) and "
                     "that HDREDRAW_JOURNAL_URL is right")
            do_zh = "请确认服务器正在运行且本机可以访问(主机、端口、防火墙),并检查 HDREDRAW_JOURNAL_URL"
        else:
            what_en, what_zh = "failed", "出错"
            do_en, do_zh = "Check the database and HDREDRAW_JOURNAL_URL", "请检查数据库和 HDREDRAW_JOURNAL_URL"
        return JournalError(
            f"The task journal database {where} {what_en} ({text}). {do_en}, or unset HDREDRAW_JOURNAL_URL to use "
            "the local SQLite journal (other workers then no longer see this one's tasks).",
            f"任务记录数据库 {where} {what_zh}({text})。{do_zh};或取消设置 HDREDRAW_JOURNAL_URL 以使用本地 SQLite "
            "任务记录(其他工作机将看不到本机的任务)。")

    def _migrate(self, cur: Any) -> None:
        """Create or bring the tables to SCHEMA_VERSION, one worker at a time."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended('hdredraw:schema', 0))")
        cur.execute("CREATE TABLE IF NOT EXISTS hdredraw_schema (version INTEGER PRIMARY KEY, "
                    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        cur.execute("SELECT COALESCE(MAX(version), 0) AS v FROM hdredraw_schema")
        version = cur.fetchone()["v"]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"The task journal database {self.location} was written by a newer version of this pack (schema "
                f"{version}, this one knows {SCHEMA_VERSION}). Update the pack on this worker.",
                f"任务记录数据库 {self.location} 由更新版本的插件写入(结构版本 {version},当前版本支持 {SCHEMA_VERSION})。"
                "请更新此工作机上的插件。")
        for step, script in MIGRATIONS:
            if step > version:
                cur.execute(script)
                cur.execute("INSERT INTO hdredraw_schema (version) VALUES (%s)", (step,))
                log.info("journal database %s migrated to schema %d", self.location, step)
        cur.execute("DELETE FROM hdredraw_leases WHERE expires < clock_timestamp() - interval '1 hour'")

    # ------------------------------------------------------------------ leases

    def try_lease(self, fp: str, holder: str) -> bool:
        def work(cur: Any) -> bool:
            cur.execute(
                "INSERT INTO hdredraw_leases AS l (fingerprint, owner, expires) VALUES (%s, %s, " + _EXPIRES + ") "
                "ON CONFLICT (fingerprint) DO UPDATE SET owner = EXCLUDED.owner, expires = EXCLUDED.expires "
                "WHERE l.owner = EXCLUDED.owner OR l.expires <= clock_timestamp() RETURNING l.owner",
                (fp, holder, self.lease_seconds))
            if cur.fetchone() is not None:
                return True
            cur.execute("SELECT owner FROM hdredraw_leases WHERE fingerprint = %s", (fp,))
            row = cur.fetchone()
            if row is None or not owners.is_gone(row["owner"]):
                return False
            log.info("taking over the lease of %s: its run has ended", row["owner"])
            cur.execute("UPDATE hdredraw_leases SET owner = %s, expires = " + _EXPIRES + " WHERE fingerprint = %s "
                        "AND owner = %s", (holder, self.lease_seconds, fp, row["owner"]))
            return cur.rowcount == 1

        return self._tx(work)

    def renew(self, fp: str, holder: str) -> None:
        def work(cur: Any) -> int:
            cur.execute("UPDATE hdredraw_leases SET expires = " + _EXPIRES + " WHERE fingerprint = %s AND owner = %s",
                        (self.lease_seconds, fp, holder))
            return cur.rowcount

        if not self._tx(work):
            log.warning("lease %s… was taken over while its run was still working", fp[:12])

    def release(self, fp: str, holder: str) -> None:
        owners.forget(holder)
        self._tx(lambda cur: cur.execute("DELETE FROM hdredraw_leases WHERE fingerprint = %s AND owner = %s",
                                         (fp, holder)))

    # ------------------------------------------------------------------ rows

    def _one(self, query: str, args: tuple) -> Entry | None:
        row = self._tx(lambda cur: cur.execute(query, args).fetchone())
        return Entry.from_row(row) if row else None

    def latest(self, fp: str) -> Entry | None:
        return self._one("SELECT * FROM hdredraw_tasks WHERE fingerprint = %s ORDER BY id DESC LIMIT 1", (fp,))

    def by_task_id(self, task_id: str) -> Entry | None:
        return self._one("SELECT * FROM hdredraw_tasks WHERE task_id = %s ORDER BY id DESC LIMIT 1", (task_id,))

    def recent(self, limit: int = 20, status: str | None = None, op_id: str | None = None) -> list[Entry]:
        where, args = where_clause({"status": status, "op_id": op_id}, "%s")
        query = f"SELECT * FROM hdredraw_tasks{where} ORDER BY id DESC LIMIT %s"
        return [Entry.from_row(r) for r in self._tx(lambda cur: cur.execute(query, (*args, limit)).fetchall())]

    def start(self, fp: str, service: str, op_id: str, params: Mapping[str, Any], upload_sha256: str | None,
              variation: int, account: str | None = None) -> int:
        from psycopg.types.json import Jsonb

        def work(cur: Any) -> int:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("hdredraw:fp:" + fp,))
            last = cur.execute("SELECT status FROM hdredraw_tasks WHERE fingerprint = %s ORDER BY id DESC LIMIT 1",
                               (fp,)).fetchone()
            if last is not None and last["status"] != FAILED:
                raise already_started()
            cur.execute("INSERT INTO hdredraw_tasks (fingerprint, service, op_id, status, params, upload_sha256, "
                        "variation, created_at, account) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                        (fp, service, op_id, SUBMITTING, Jsonb(dict(params)), upload_sha256, int(variation),
                         time.time(), account))
            return int(cur.fetchone()["id"])

        return self._tx(work, atomic=True)

    def submitted(self, entry_id: int, task_id: str, remaining_count: Any = None, remaining_money: Any = None) -> None:
        self._tx(lambda cur: cur.execute(
            "UPDATE hdredraw_tasks SET task_id = %s, status = %s, submitted_at = %s, remaining_count = %s, "
            "remaining_money = %s WHERE id = %s", (task_id, PENDING, time.time(), number(remaining_count),
                                                   number(remaining_money), entry_id)))

    def adopt(self, service: str, op_id: str, task_id: str, account: str | None = None) -> int:
        def work(cur: Any) -> int:
            cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", ("hdredraw:task:" + task_id,))
            row = cur.execute("SELECT id FROM hdredraw_tasks WHERE task_id = %s ORDER BY id DESC LIMIT 1",
                              (task_id,)).fetchone()
            if row is not None:
                return int(row["id"])
            now = time.time()
            cur.execute("INSERT INTO hdredraw_tasks (fingerprint, service, op_id, task_id, status, created_at, "
                        "submitted_at, account) VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
                        (ADOPTED_PREFIX + task_id, service, op_id, task_id, PENDING, now, now, account))
            return int(cur.fetchone()["id"])

        return self._tx(work, atomic=True)

    def set_status(self, entry_id: int, status: str, error: str | None = None,
                   only_if: str | tuple[str, ...] | None = None) -> None:
        allowed = [only_if] if isinstance(only_if, str) else list(only_if or ())
        condition = " AND status = ANY(%s)" if allowed else ""
        self._tx(lambda cur: cur.execute(
            "UPDATE hdredraw_tasks SET status = %s, error = %s, finished_at = CASE WHEN %s = %s THEN %s ELSE "
            "finished_at END WHERE id = %s" + condition,
            (status, error, status, FAILED, time.time(), entry_id, *([allowed] if allowed else []))))

    def _record_done(self, entry_id: int, stored: dict[str, Any], remaining_count: int | float | None,
                     remaining_money: int | float | None) -> None:
        from psycopg.types.json import Jsonb

        self._tx(lambda cur: cur.execute(
            "UPDATE hdredraw_tasks SET status = %s, finished_at = COALESCE(finished_at, %s), result = %s, "
            "remaining_count = COALESCE(%s, remaining_count), remaining_money = COALESCE(%s, remaining_money), "
            "error = NULL WHERE id = %s",
            (DONE, time.time(), Jsonb(stored), remaining_count, remaining_money, entry_id)))

    def median_duration(self, op_id: str, last: int = 20) -> float | None:
        rows = self._tx(lambda cur: cur.execute(
            "SELECT finished_at - submitted_at AS d FROM hdredraw_tasks WHERE op_id = %s AND status = %s AND "
            "submitted_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id DESC LIMIT %s",
            (op_id, DONE, last)).fetchall())
        durations = [r["d"] for r in rows if r["d"] is not None and r["d"] >= 0]
        return statistics.median(durations) if durations else None

    def account_stats(self, since: float | None = None) -> list[AccountStats]:
        since = start_of_today() if since is None else since

        def work(cur: Any) -> tuple[list, list]:
            counts = cur.execute(
                "SELECT account, service, count(*) FILTER (WHERE task_id IS NOT NULL AND fingerprint NOT LIKE %s "
                "AND submitted_at >= %s) AS submitted, count(*) FILTER (WHERE status = %s AND created_at >= %s) AS uncertain "
                "FROM hdredraw_tasks WHERE account IS NOT NULL AND (submitted_at >= %s OR created_at >= %s) "
                "GROUP BY account, service", (ADOPTED_PREFIX + "%", since, UNCERTAIN, since, since, since)).fetchall()
            seen = cur.execute(
                "SELECT DISTINCT ON (account, service) account, service, remaining_count, remaining_money, "
                "COALESCE(finished_at, submitted_at, created_at) AS at FROM hdredraw_tasks WHERE account IS NOT NULL "
                "AND (remaining_count IS NOT NULL OR remaining_money IS NOT NULL) "
                "ORDER BY account, service, at DESC").fetchall()
            return counts, seen

        return merge_stats(*self._tx(work))
