"""The task journal: every paid task counted exactly once, every finished result kept.

A SQLite file (WAL, safe across threads and processes) records each submission before it is polled:
the request's fingerprint (operation + canonical parameters + SHA-256 of the uploaded bytes + variation +
account), the task id, timestamps, status, result URLs and the balance seen.  Finished results are kept
as content-addressed files under `results/`, bounded in total size (oldest used evicted first); an evicted
result is fetched again from the service at no cost.

A lease per fingerprint (a row with an expiry, renewed while a run holds it) makes sure two prompts or
two ComfyUI processes never submit the same request at the same moment: the second waits, then reuses.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import statistics
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import owners
from .errors import JournalError
from .private import private_dir
from .redact import get_logger, redact

log = get_logger("hdredraw.journal")

LEASE_SECONDS = 30.0
RENEW_EVERY = 5.0
DEFAULT_CACHE_MB = 2048

SCHEMA = """
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
"""

# Status values.
SUBMITTING, PENDING, DONE, FAILED, UNCERTAIN = "submitting", "pending", "done", "failed", "uncertain"


@dataclass
class Entry:
    id: int
    fingerprint: str
    service: str
    op_id: str
    task_id: str | None
    status: str
    params: dict[str, Any]
    upload_sha256: str | None
    variation: int
    created_at: float
    submitted_at: float | None
    finished_at: float | None
    remaining_count: int | None
    remaining_money: float | None
    result: dict[str, Any] | None
    error: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Entry:
        d = dict(row)
        d["params"] = json.loads(d["params"] or "{}")
        d["result"] = json.loads(d["result"]) if d["result"] else None
        return cls(**d)


def fingerprint(service: str, op_id: str, wire: Mapping[str, str], upload_sha256: str, variation: int,
                account: str) -> str:
    """What makes two requests the same paid work."""
    canonical = json.dumps({"service": service, "op": op_id, "params": dict(sorted(wire.items())),
                            "upload": upload_sha256, "variation": int(variation), "account": account},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def account_id(base_url: str, secret: str) -> str:
    """Tells accounts apart without storing anything that reveals the key."""
    return hashlib.sha256(f"hdredraw-account\0{base_url.rstrip('/')}\0{secret}".encode()).hexdigest()[:16]


class Journal:
    def __init__(self, directory: str | os.PathLike[str], cache_mb: int = DEFAULT_CACHE_MB):
        self.dir = Path(directory)
        self.blob_dir = self.dir / "results"
        self.path = self.dir / "journal.sqlite3"
        self.cache_bytes = max(0, int(cache_mb)) * 1024 * 1024
        self.owner = owners.new_owner()
        try:
            private_dir(self.blob_dir)  # 0700 whatever the umask: the journal says what was bought
        except OSError as exc:
            raise _journal_error(self.path, exc) from None
        with self._guarded():
            conn = self._connect()
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
                conn.executescript(SCHEMA)
                conn.execute("SELECT count(*) FROM tasks").fetchone()  # a damaged file fails here, not mid-run
            finally:
                conn.close()
        _owner_only(self.path, 0o600)

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        """Turn a raw sqlite3 or file error into one message that names the file and says what to do."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise _journal_error(self.path, exc) from None

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A short write-locked transaction (safe across threads and processes) on its own connection.

        Connections are not kept per thread: batch workers come and go, and each would leak one.
        """
        with self._guarded():
            if not self.path.exists():  # deleted under a running process: do not silently start a new one
                raise sqlite3.OperationalError("the journal file is missing")
            conn = self._connect()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.close()

    # ------------------------------------------------------------------ leases

    def new_holder(self) -> str:
        """An id for one run's hold on leases (a process may run several at once)."""
        return owners.new_holder(self.owner)

    def try_lease(self, fp: str, holder: str) -> bool:
        """Take the fingerprint's lease unless another live holder has it (a dead one's is taken over)."""
        now = time.time()
        with self._db() as db:
            row = db.execute("SELECT owner, expires FROM leases WHERE fingerprint=?", (fp,)).fetchone()
            if row is not None and row["owner"] != holder and row["expires"] > now and not owners.is_gone(
                    row["owner"]):
                return False
            if row is not None and row["owner"] != holder and row["expires"] > now:
                log.info("taking over the lease of %s: its run has ended", row["owner"])
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?)", (fp, holder, now + LEASE_SECONDS))
            return True

    def renew(self, fp: str, holder: str) -> None:
        with self._db() as db:
            db.execute("UPDATE leases SET expires=? WHERE fingerprint=? AND owner=?",
                       (time.time() + LEASE_SECONDS, fp, holder))

    def release(self, fp: str, holder: str) -> None:
        owners.forget(holder)
        with self._db() as db:
            db.execute("DELETE FROM leases WHERE fingerprint=? AND owner=?", (fp, holder))

    # ------------------------------------------------------------------ entries

    def latest(self, fp: str) -> Entry | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE fingerprint=? ORDER BY id DESC LIMIT 1", (fp,)).fetchone()
        return Entry.from_row(row) if row else None

    def by_task_id(self, task_id: str) -> Entry | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM tasks WHERE task_id=? ORDER BY id DESC LIMIT 1", (task_id,)).fetchone()
        return Entry.from_row(row) if row else None

    def recent(self, limit: int = 20, status: str | None = None) -> list[Entry]:
        query = "SELECT * FROM tasks" + (" WHERE status=?" if status else "") + " ORDER BY id DESC LIMIT ?"
        args: tuple = (status, limit) if status else (limit,)
        with self._db() as db:
            return [Entry.from_row(r) for r in db.execute(query, args).fetchall()]

    def start(self, fp: str, service: str, op_id: str, params: Mapping[str, Any], upload_sha256: str | None,
              variation: int) -> int:
        """Record a submission about to be sent (before it could be charged)."""
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO tasks (fingerprint, service, op_id, status, params, upload_sha256, variation, "
                "created_at) VALUES (?,?,?,?,?,?,?,?)",
                (fp, service, op_id, SUBMITTING, json.dumps(dict(params), ensure_ascii=False), upload_sha256,
                 int(variation), time.time()))
            return int(cur.lastrowid)

    def submitted(self, entry_id: int, task_id: str, remaining_count: Any = None, remaining_money: Any = None) -> None:
        with self._db() as db:
            db.execute("UPDATE tasks SET task_id=?, status=?, submitted_at=?, remaining_count=?, remaining_money=? "
                       "WHERE id=?", (task_id, PENDING, time.time(), remaining_count, remaining_money, entry_id))

    def adopt(self, service: str, op_id: str, task_id: str) -> int:
        """Record a task known only by id (fetched by hand) so its result is kept."""
        existing = self.by_task_id(task_id)
        if existing is not None:
            return existing.id
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO tasks (fingerprint, service, op_id, task_id, status, created_at, submitted_at) "
                "VALUES (?,?,?,?,?,?,?)", (f"task:{task_id}", service, op_id, task_id, PENDING, time.time(),
                                           time.time()))
            return int(cur.lastrowid)

    def set_status(self, entry_id: int, status: str, error: str | None = None,
                   only_if: str | tuple[str, ...] | None = None) -> None:
        """Set a row's status; with `only_if`, only while the row still has that status (or one of them)."""
        allowed = (only_if,) if isinstance(only_if, str) else only_if
        condition = f" AND status IN ({','.join('?' * len(allowed))})" if allowed else ""
        with self._db() as db:
            db.execute("UPDATE tasks SET status=?, error=?, finished_at=CASE WHEN ?=? THEN ? ELSE finished_at END "
                       "WHERE id=?" + condition, (status, error, status, FAILED, time.time(), entry_id,
                                                  *(allowed or ())))

    def finished(self, entry_id: int, result: Any) -> None:
        """Store a finished task's files and mark it done."""
        stored = self._store_result(result)
        with self._db() as db:
            db.execute("UPDATE tasks SET status=?, finished_at=COALESCE(finished_at, ?), result=?, "
                       "remaining_count=COALESCE(?, remaining_count), remaining_money=COALESCE(?, remaining_money), "
                       "error=NULL WHERE id=?",
                       (DONE, time.time(), json.dumps(stored, ensure_ascii=False), result.remaining_count,
                        result.remaining_money, entry_id))
        self.evict()

    def median_duration(self, op_id: str, last: int = 20) -> float | None:
        """Median seconds from submit to finish of this operation's recent tasks (for the ETA)."""
        with self._db() as db:
            rows = db.execute("SELECT finished_at - submitted_at AS d FROM tasks WHERE op_id=? AND status=? AND "
                              "submitted_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY id DESC LIMIT ?",
                              (op_id, DONE, last)).fetchall()
        durations = [r["d"] for r in rows if r["d"] is not None and r["d"] >= 0]
        return statistics.median(durations) if durations else None

    # ------------------------------------------------------------------ result files

    def _put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / sha
        if not path.exists():
            tmp = path.with_name(f"{sha}.{self.owner.replace(':', '-')}.part")
            with self._guarded():
                tmp.write_bytes(data)
                os.replace(tmp, path)
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO blobs VALUES (?,?,?)", (sha, len(data), time.time()))
        return sha

    def _get_blob(self, sha: str) -> bytes | None:
        try:
            data = (self.blob_dir / sha).read_bytes()
        except FileNotFoundError:
            return None
        with self._db() as db:
            db.execute("UPDATE blobs SET last_used=? WHERE sha256=?", (time.time(), sha))
        return data

    def _store_result(self, result: Any) -> dict[str, Any]:
        def put(data: bytes | None) -> str | None:
            return self._put_blob(data) if data else None

        urls = json.loads(redact(json.dumps(result.urls, ensure_ascii=False)))  # an echoed key is not stored
        return {"images": [put(b) for b in result.images], "grid": put(result.grid),
                "image_1x": put(result.image_1x), "vector": put(result.vector),
                "svgs": [put(b) for b in result.svgs], "prompt": redact(result.prompt), "urls": urls}

    def load_files(self, entry: Entry) -> dict[str, Any] | None:
        """The stored files of a finished entry, or None when any was evicted."""
        stored = entry.result or {}
        out: dict[str, Any] = {"prompt": stored.get("prompt", ""), "urls": stored.get("urls", {})}
        for key in ("images", "svgs"):
            blobs = [self._get_blob(s) for s in stored.get(key, [])]
            if any(b is None for b in blobs):
                return None
            out[key] = blobs
        for key in ("grid", "image_1x", "vector"):
            sha = stored.get(key)
            out[key] = self._get_blob(sha) if sha else None
            if sha and out[key] is None:
                return None
        return out

    def evict(self) -> int:
        """Remove least recently used result files beyond the size bound; returns bytes freed."""
        with self._db() as db:
            rows = db.execute("SELECT sha256, size FROM blobs ORDER BY last_used DESC").fetchall()
            total, keep, drop = 0, [], []
            for r in rows:
                total += r["size"]
                (keep if total <= self.cache_bytes else drop).append(r)
            for r in drop:
                db.execute("DELETE FROM blobs WHERE sha256=?", (r["sha256"],))
        freed = 0
        for r in drop:
            try:
                (self.blob_dir / r["sha256"]).unlink()
                freed += r["size"]
            except FileNotFoundError:
                pass
        if drop:
            log.info("evicted %d cached result file(s), %d bytes", len(drop), freed)
        return freed


def describe(entries: list[Entry], now: float | None = None) -> str:
    """A plain table of journal entries: when, operation, status, task id, balance seen."""
    now = now or time.time()
    lines = [f"{'age':>8}  {'operation':<18} {'status':<10} {'task id':<36} balance seen"]
    for e in entries:
        age = now - e.created_at
        age_text = f"{age:.0f}s" if age < 120 else f"{age / 60:.0f}m" if age < 7200 else f"{age / 3600:.1f}h"
        balance = ""
        if e.remaining_count is not None or e.remaining_money is not None:
            balance = f"{e.remaining_count if e.remaining_count is not None else '?'} left / ¥{e.remaining_money}"
        lines.append(f"{age_text:>8}  {e.op_id:<18} {e.status:<10} {e.task_id or '-':<36} {balance}")
    return "\n".join(lines)


def _owner_only(path: Path, mode: int) -> None:
    """Private to the user whatever the umask; POSIX modes do not apply on Windows (ACLs do), so failures
    to set them are ignored."""
    try:
        os.chmod(path, mode)
    except OSError:
        pass


def _journal_error(path: Path, exc: BaseException) -> JournalError:
    """One clear message for everything that can go wrong with the journal file."""
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
        do_en = "Check that the folder exists and is yours, or point HDREDRAW_DATA_DIR at a writable folder"
        do_zh = "请确认该文件夹存在且属于您,或将 HDREDRAW_DATA_DIR 指向可写的文件夹"
    elif "readonly" in text or "read-only" in text or isinstance(exc, PermissionError):
        what_en, what_zh = "is read-only", "为只读"
        do_en = "Make the file and its folder writable by you, or point HDREDRAW_DATA_DIR at a writable folder"
        do_zh = "请让该文件及其文件夹可写,或将 HDREDRAW_DATA_DIR 指向可写的文件夹"
    else:
        what_en, what_zh = f"cannot be used ({exc})", f"无法使用({exc})"
        do_en = "Check the file and its folder, or point HDREDRAW_DATA_DIR at another folder"
        do_zh = "请检查该文件及其文件夹,或将 HDREDRAW_DATA_DIR 指向其他文件夹"
    return JournalError(f"The task journal {path} {what_en}. {do_en}.", f"任务记录文件 {path} {what_zh}。{do_zh}。")
