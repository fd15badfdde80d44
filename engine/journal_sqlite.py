"""The journal in a SQLite file on this machine (the default).

A SQLite file (WAL, safe across threads and processes) records each submission before it is polled.  Every
call is one short write-locked transaction (`BEGIN IMMEDIATE`) on its own connection, so two prompts or two
ComfyUI processes sharing the file never interleave.  The schema is versioned with `PRAGMA user_version`
and migrated forward on open; a file written by a newer pack is refused rather than misread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    owner_only,
    start_of_today,
    where_clause,
)

# Version 1 is the schema as first released (files from then have user_version 0 and match it).  Add a
# migration by appending (version, script); never edit a released one.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    service TEXT NOT NULL,
    op_id TEXT NOT NULL,
    task_id TEXT,
    status TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    upload_sha256 TEXT,
    variation INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    submitted_at REAL,
    finished_at REAL,
    remaining_count INTEGER,
    remaining_money REAL,
    result TEXT,
    error TEXT
);
CREATE INDEX IF NOT EXISTS tasks_fp ON tasks(fingerprint, id);
CREATE INDEX IF NOT EXISTS tasks_tid ON tasks(task_id);
CREATE TABLE IF NOT EXISTS leases (fingerprint TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, last_used REAL NOT NULL);
"""),
    (2, """
ALTER TABLE tasks ADD COLUMN account TEXT;
CREATE INDEX IF NOT EXISTS tasks_account ON tasks(account, submitted_at);
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
MAX_IDLE = 4  # connections kept open between calls


class SqliteJournal(JournalBase):
    backend = "sqlite"

    def __init__(self, directory: str | os.PathLike[str], cache_mb: int = DEFAULT_CACHE_MB,
                 lease_seconds: float = LEASE_SECONDS):
        self.path = Path(directory) / "journal.sqlite3"
        self._idle: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        super().__init__(directory, cache_mb, lease_seconds)
        self.location = str(self.path)
        with self._guarded():
            self._open()
        owner_only(self.path, 0o600)

    def _open(self) -> None:
        """Set WAL mode and bring the schema up to date, the first time by whichever process comes first.

        Switching a new file to WAL takes an exclusive lock, and SQLite answers "locked" at once (without
        waiting) to a second process switching at the same moment: that case is tried again, for a bounded
        time.
        """
        give_up = time.monotonic() + 30
        while True:
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # a damaged file fails here
                self._migrate(conn)
                conn.execute("SELECT count(*) FROM tasks").fetchone()  # ... or here, not mid-run
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > give_up:
                    raise
            finally:
                conn.close()
            time.sleep(0.05)

    def _folder_error(self, exc: BaseException) -> JournalError:
        return _journal_error(self.path, exc)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        """Bring the file to SCHEMA_VERSION, one process at a time (the second finds it done)."""
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise _newer(self.path, version)
            for number_, script in MIGRATIONS:
                if number_ > version:
                    for statement in filter(str.strip, script.split(";")):
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("DELETE FROM leases WHERE expires < ?", (time.time() - 3600,))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        log.info("journal %s migrated from schema %d to %d", self.path, version, SCHEMA_VERSION)

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        # Kept open between calls (below), so no close checkpoints the log to disk: each commit must itself.
        conn.execute("PRAGMA synchronous=FULL")
        return conn

    def _take(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def close(self) -> None:
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Turn a raw sqlite3 or file error into one message that names the file and says what to do."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise _journal_error(self.path, exc) from None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A short write-locked transaction (safe across threads and processes) on a pooled connection.

        A few idle connections are kept for the journal, not one per thread (batch workers come and go, and
        each would leak one).  Keeping one open spares every call the checkpoint SQLite runs when the last
        connection to a file closes, about half of a call's cost.
        """
        with self._guarded():
            if not self.path.exists():  # deleted under a running process: do not silently start a new one
                raise sqlite3.OperationalError("the journal file is missing")
            conn = self._take()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                with self._pool_lock:
                    keep = not conn.in_transaction and len(self._idle) < MAX_IDLE
                    if keep:
                        self._idle.append(conn)
                if not keep:
                    conn.close()

    # ------------------------------------------------------------------ leases

    def try_lease(self, fp: str, holder: str) -> bool:
        now = time.time()
        with self._db() as db:
            row = db.execute("SELECT owner, expires FROM leases WHERE fingerprint=?", (fp,)).fetchone()
            if row is not None and row["owner"] != holder and row["expires"] > now and not owners.is_gone(
                    row["owner"]):
                return False
            if row is not None and row["owner"] != holder and row["expires"] > now:
                log.info("taking over the lease of %s: its run has ended", row["owner"])
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?)", (fp, holder, now + self.lease_seconds))
            return True

    def renew(self, fp: str, holder: str) -> None:
        with self._db() as db:
            kept = db.execute("UPDATE leases SET expires=? WHERE fingerprint=? AND owner=?",
                              (time.time() + self.lease_seconds, fp, holder)).rowcount
        if not kept:
            log.warning("lease %s… was taken over while its run was still working", fp[:12])

    def release(self, fp: str, holder: str) -> None:
        owners.forget(holder)
        with self._db() as db:
            db.execute("DELETE FROM leases WHERE fingerprint=? AND owner=?", (fp, holder))

    # ------------------------------------------------------------------ rows

    def latest(self, fp: str) -> Entry | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE fingerprint=? ORDER BY id DESC LIMIT 1", (fp,)).fetchone()
        return Entry.from_row(row) if row else None

    def by_task_id(self, task_id: str) -> Entry | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE task_id=? ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
        return Entry.from_row(row) if row else None

    def recent(self, limit: int = 20, status: str | None = None, op_id: str | None = None) -> list[Entry]:
        where, args = where_clause({"status": status, "op_id": op_id}, "?")
        with self._db() as db:
            rows = db.execute(f"SELECT * FROM tasks{where} ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [Entry.from_row(r) for r in rows]

    def start(self, fp: str, service: str, op_id: str, params: Mapping[str, Any], upload_sha256: str | None,
              variation: int, account: str | None = None) -> int:
        with self._db() as db:
            last = db.execute("SELECT status FROM tasks WHERE fingerprint=? ORDER BY id DESC LIMIT 1", (fp,)).fetchone()
            if last is not None and last["status"] != FAILED:
                raise already_started()
            cur = db.execute(
                "INSERT INTO tasks (fingerprint, service, op_id, status, params, upload_sha256, variation, "
                "created_at, account) VALUES (?,?,?,?,?,?,?,?,?)",
                (fp, service, op_id, SUBMITTING, json.dumps(dict(params), ensure_ascii=False), upload_sha256,
                 int(variation), time.time(), account))
            return int(cur.lastrowid)

    def submitted(self, entry_id: int, task_id: str, remaining_count: Any = None, remaining_money: Any = None) -> None:
        with self._db() as db:
            db.execute("UPDATE tasks SET task_id=?, status=?, submitted_at=?, remaining_count=?, remaining_money=? "
                       "WHERE id=?", (task_id, PENDING, time.time(), number(remaining_count), number(remaining_money),
                                      entry_id))

    def adopt(self, service: str, op_id: str, task_id: str, account: str | None = None) -> int:
        with self._db() as db:
            row = db.execute("SELECT id FROM tasks WHERE task_id=? ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
            if row is not None:
                return int(row["id"])
            now = time.time()
            cur = db.execute(
                "INSERT INTO tasks (fingerprint, service, op_id, task_id, status, created_at, submitted_at, account) "
                "VALUES (?,?,?,?,?,?,?,?)", (ADOPTED_PREFIX + task_id, service, op_id, task_id, PENDING, now, now,
                                             account))
            return int(cur.lastrowid)

    def set_status(self, entry_id: int, status: str, error: str | None = None,
                   only_if: str | tuple[str, ...] | None = None) -> None:
        allowed = (only_if,) if isinstance(only_if, str) else only_if
        condition = f" AND status IN ({','.join('?' * len(allowed))})" if allowed else ""
        with self._db() as db:
            db.execute("UPDATE tasks SET status=?, error=?, finished_at=CASE WHEN ?=? THEN ? ELSE finished_at END "
                       "WHERE id=?" + condition, (status, error, status, FAILED, time.time(), entry_id,
                                                  *(allowed or ())))

    def _record_done(self, entry_id: int, stored: dict[str, Any], remaining_count: int | float | None,
                     remaining_money: int | float | None) -> None:
        with self._db() as db:
            db.execute("UPDATE tasks SET status=?, finished_at=COALESCE(finished_at, ?), result=?, "
                       "remaining_count=COALESCE(?, remaining_count), remaining_money=COALESCE(?, remaining_money), "
                       "error=NULL WHERE id=?",
                       (DONE, time.time(), json.dumps(stored, ensure_ascii=False), remaining_count, remaining_money,
                        entry_id))

    def median_duration(self, op_id: str, last: int = 20) -> float | None:
        with self._db() as db:
            rows = db.execute("SELECT finished_at - submitted_at AS d FROM tasks WHERE op_id=? AND status=? AND "
                              "submitted_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?",
                              (op_id, DONE, last)).fetchall()
        durations = [r["d"] for r in rows if r["d"] is not None and r["d"] >= 0]
        return statistics.median(durations) if durations else None

    def account_stats(self, since: float | None = None) -> list[AccountStats]:
        since = start_of_today() if since is None else since
        with self._db() as db:
            counts = db.execute(
                "SELECT account, service, SUM(CASE WHEN task_id IS NOT NULL AND fingerprint NOT LIKE ? AND "
                "submitted_at >= ? THEN 1 ELSE 0 END) AS submitted, SUM(CASE WHEN status = ? AND created_at >= ? "
                "THEN 1 ELSE 0 END) AS uncertain FROM tasks WHERE account IS NOT NULL AND (submitted_at >= ? OR "
                "created_at >= ?) GROUP BY account, service",
                (ADOPTED_PREFIX + "%", since, UNCERTAIN, since, since, since)).fetchall()
            # SQLite takes the bare columns from the row that holds MAX(): each account's newest balance.
            seen = db.execute(
                "SELECT account, service, remaining_count, remaining_money, "
                "MAX(COALESCE(finished_at, submitted_at, created_at)) AS at FROM tasks WHERE account IS NOT NULL "
                "AND (remaining_count IS NOT NULL OR remaining_money IS NOT NULL) GROUP BY account, service").fetchall()
        return merge_stats(counts, seen)


def _newer(path: Path, version: int) -> JournalError:
    return JournalError(
        f"The task journal {path} was written by a newer version of this pack (schema {version}, this one knows "
        f"{SCHEMA_VERSION}). Update the pack, or point HDREDRAW_DATA_DIR at another folder.",
        f"任务记录文件 {path} 由更新版本的插件写入(结构版本 {version},当前版本支持 {SCHEMA_VERSION})。请更新插件,或将 "
        "HDREDRAW_DATA_DIR 指向其他文件夹。")


def _journal_error(path: Path, exc: BaseException) -> JournalError:
    """One clear message for everything that can go wrong with the journal file."""
    if isinstance(exc, JournalError):
        return exc
    text = str(exc).lower()
    if "malformed" in text or "not a database" in text or "no such table" in text:
        what_en = "is damaged or was replaced"
        what_zh = "已损坏或被替换"
        do_en = f"Close ComfyUI, rename {path.name} (keep it: it lists earlier task ids) and run again"
        do_zh = f"请关闭 ComfyUI,将 {path.name} 改名保存(其中有以前的任务ID),然后重新运行"
    elif "full" in text or getattr(exc, "errno", None) == 28:
        what_en, what_zh = "cannot be written: the disk is full", "无法写入:磁盘已满"
        do_en, do_zh = "Free some disk space and run again", "请清理磁盘空间后重新运行"
    elif "missing" in text or "unable to open" in text or isinstance(exc, FileNotFoundError):
        what_en, what_zh = "is missing or its folder cannot be opened", "缺失或其所在文件夹无法打开"
        do_en = ("If it was deleted while ComfyUI or the command was running, restart it to start a new, empty "
                 "journal; otherwise check that the folder exists and is yours, or point HDREDRAW_DATA_DIR at a "
                 "writable folder")
        do_zh = "如果它是在 ComfyUI 或命令运行时被删除的,请重新启动以新建一个空的任务记录;否则请确认该文件夹存在且属于您,或将 HDREDRAW_DATA_DIR 指向可写的文件夹"
    elif "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        what_en, what_zh = "is read-only", "为只读"
        do_en = "Make the file and its folder writable by you, or point HDREDRAW_DATA_DIR at a writable folder"
        do_zh = "请让该文件及其文件夹可写,或将 HDREDRAW_DATA_DIR 指向可写的文件夹"
    else:
        what_en, what_zh = f"cannot be used ({exc})", f"无法使用({exc})"
        do_en = "Check the file and its folder, or point HDREDRAW_DATA_DIR at another folder"
        do_zh = "请检查该文件及其文件夹,或将 HDREDRAW_DATA_DIR 指向其他文件夹"
    return JournalError(f"The task journal {path} {what_en}. {do_en}.", f"任务记录文件 {path} {what_zh}。{do_zh}。")
