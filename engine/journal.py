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
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .redact import get_logger

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
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "journal.sqlite3"
        self.cache_bytes = max(0, int(cache_mb)) * 1024 * 1024
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
            conn.executescript(SCHEMA)
        finally:
            conn.close()
        try:
            os.chmod(self.path, 0o600)
        except OSError:
            pass

    # ------------------------------------------------------------------ plumbing

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """A short write-locked transaction (safe across threads and processes) on its own connection.

        Connections are not kept per thread: batch workers come and go, and each would leak one.
        """
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

    def try_lease(self, fp: str) -> bool:
        now = time.time()
        with self._db() as db:
            row = db.execute("SELECT owner, expires FROM leases WHERE fingerprint=?", (fp,)).fetchone()
            if row is not None and row["owner"] != self.owner and row["expires"] > now:
                return False
            db.execute("INSERT OR REPLACE INTO leases VALUES (?,?,?)", (fp, self.owner, now + LEASE_SECONDS))
            return True

    def renew(self, fp: str) -> None:
        with self._db() as db:
            db.execute("UPDATE leases SET expires=? WHERE fingerprint=? AND owner=?",
                       (time.time() + LEASE_SECONDS, fp, self.owner))

    def release(self, fp: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM leases WHERE fingerprint=? AND owner=?", (fp, self.owner))

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

    def set_status(self, entry_id: int, status: str, error: str | None = None) -> None:
        with self._db() as db:
            db.execute("UPDATE tasks SET status=?, error=?, finished_at=CASE WHEN ?=? THEN ? ELSE finished_at END "
                       "WHERE id=?", (status, error, status, FAILED, time.time(), entry_id))

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
            tmp = path.with_name(f"{sha}.{self.owner}.part")
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

        return {"images": [put(b) for b in result.images], "grid": put(result.grid),
                "image_1x": put(result.image_1x), "vector": put(result.vector),
                "svgs": [put(b) for b in result.svgs], "prompt": result.prompt, "urls": result.urls}

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
