"""The task journal's interface, and what both backends (SQLite, PostgreSQL) share.

A backend stores rows (one per paid task: fingerprint, task id, status, timestamps, balance seen, the
result's file hashes and URLs) and leases (one per fingerprint, with an expiry).  What is the same for
both lives here so that neither can drift: the fingerprint, the row type, the per-account numbers, and the
kept result files, which are always local to the machine (`results/` under the data folder): a result is
never stored in a database, and a machine that does not hold one fetches it again from the service, free,
by the task id the journal keeps.
"""

from __future__ import annotations

import abc
import datetime
import hashlib
import json
import math
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
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
RESCAN_SECONDS = 60.0  # result files other processes added are noticed at least this often

# Status values.
SUBMITTING, PENDING, DONE, FAILED, UNCERTAIN = "submitting", "pending", "done", "failed", "uncertain"
ADOPTED_PREFIX = "task:"  # fingerprint of a row known only by its task id (fetched, not submitted here)
_SHA = re.compile(r"[0-9a-f]{64}")


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
    remaining_count: int | float | None
    remaining_money: int | float | None
    result: dict[str, Any] | None
    error: str | None
    account: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Entry:
        """A row of either backend (JSON as text or as decoded jsonb, numbers as REAL or NUMERIC)."""
        present = set(row.keys())
        d = {name: row[name] for name in ENTRY_FIELDS if name in present}
        params, result = d.get("params"), d.get("result")
        d["params"] = json.loads(params or "{}") if isinstance(params, (str, bytes)) else dict(params or {})
        d["result"] = json.loads(result) if isinstance(result, (str, bytes)) and result else result or None
        for key in ("remaining_count", "remaining_money"):
            if isinstance(d.get(key), Decimal):
                d[key] = number(d[key])
        return cls(**d)


ENTRY_FIELDS = tuple(f.name for f in fields(Entry))  # read once: `fields()` is slow for every row


def where_clause(conditions: Mapping[str, Any], mark: str) -> tuple[str, tuple]:
    """` WHERE column = mark AND ...` for the conditions that are set, with the backend's placeholder.  The
    column names come from this package's code, never from input."""
    used = {column: value for column, value in conditions.items() if value is not None}
    if not used:
        return "", ()
    return " WHERE " + " AND ".join(f"{column} = {mark}" for column in used), tuple(used.values())


@dataclass
class AccountStats:
    """One account's numbers across every worker sharing the journal."""

    account: str
    service: str
    submitted: int  # new tasks submitted since `since` (by any worker; adopted and reused ones not counted)
    uncertain: int  # attempts since `since` whose answer was lost: they may have been charged too
    remaining_count: int | float | None  # the newest balance any worker saw
    remaining_money: int | float | None
    balance_at: float | None


def number(value: Any) -> int | float | None:
    """A balance as the service sent it, as a number (int when whole); None for anything else.

    Services send counts and money as numbers or numeric strings; a typed column must never refuse the row
    that records a paid task because of an odd balance value.
    """
    if isinstance(value, bool) or value is None:
        return None
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(as_float):
        return None
    if isinstance(value, int) or (as_float.is_integer() and abs(as_float) < 2**53):
        return int(as_float)
    return as_float


def start_of_today(now: float | None = None) -> float:
    """Local midnight: 'spend today' is counted from here."""
    day = datetime.date.fromtimestamp(now if now is not None else time.time())
    return datetime.datetime.combine(day, datetime.time.min).timestamp()


def merge_stats(counts: list[Mapping[str, Any]], seen: list[Mapping[str, Any]]) -> list[AccountStats]:
    """Per-account rows from a backend's two queries: counts since a moment, and each account's newest balance."""
    out: dict[tuple[str, str], AccountStats] = {}
    for r in seen:
        out[(r["account"], r["service"])] = AccountStats(r["account"], r["service"], 0, 0, number(r["remaining_count"]),
                                                         number(r["remaining_money"]), r["at"])
    for r in counts:
        stats = out.setdefault((r["account"], r["service"]),
                               AccountStats(r["account"], r["service"], 0, 0, None, None, None))
        stats.submitted, stats.uncertain = int(r["submitted"] or 0), int(r["uncertain"] or 0)
    return [out[k] for k in sorted(out)]


def already_started() -> JournalError:
    """start() found a live row for the same request: another run took the lease over and started it."""
    return JournalError(
        "Another run started this same request while this one was paused long enough to lose its lease; nothing "
        "was sent by this run. Run again: it reuses or resumes that task at no charge.",
        "在本次运行暂停期间(租约已过期),另一运行已开始处理相同的请求;本次运行未发送任何内容。请重新运行:将免费复用或继续该任务。")


class JournalBase(abc.ABC):
    """What a journal does.  Every method is safe across threads, processes and (PostgreSQL) machines.

    Leases: `try_lease` takes a fingerprint's lease unless another live holder has it.  A holder is live
    until its lease expires (`lease_seconds` after its last renewal, on the backend's clock) or, when it is
    a process on this very machine, until that process is seen to have ended.
    """

    backend = ""

    def __init__(self, directory: str | os.PathLike[str], cache_mb: int = DEFAULT_CACHE_MB,
                 lease_seconds: float = LEASE_SECONDS):
        self.dir = Path(directory)
        self.blob_dir = self.dir / "results"
        self.cache_bytes = max(0, int(cache_mb)) * 1024 * 1024
        self.lease_seconds = float(lease_seconds)
        self.owner = owners.new_owner()
        self._files_lock = threading.Lock()
        self._known_bytes: int | None = None  # result bytes on disk as of the last scan, plus our additions
        self._scanned = 0.0
        try:
            private_dir(self.blob_dir)  # 0700 whatever the umask: the journal says what was bought
        except OSError as exc:
            raise self._folder_error(exc) from None

    @property
    def renew_every(self) -> float:
        """How often a running holder renews its lease: often enough that a live run never loses it."""
        return min(RENEW_EVERY, self.lease_seconds / 3)

    def new_holder(self) -> str:
        """An id for one run's hold on leases (a process may run several at once)."""
        return owners.new_holder(self.owner)

    def _folder_error(self, exc: BaseException) -> JournalError:
        return JournalError(
            f"The folder for kept results {self.blob_dir} cannot be used ({exc}). Check that it is yours and "
            "writable, or point HDREDRAW_DATA_DIR at a writable folder.",
            f"保存结果的文件夹 {self.blob_dir} 无法使用({exc})。请确认它属于您且可写,或将 HDREDRAW_DATA_DIR 指向可写的文件夹。")

    # ------------------------------------------------------------------ leases

    @abc.abstractmethod
    def try_lease(self, fp: str, holder: str) -> bool:
        """Take the fingerprint's lease unless another live holder has it (a dead one's is taken over)."""

    @abc.abstractmethod
    def renew(self, fp: str, holder: str) -> None:
        """Push the lease's expiry `lease_seconds` ahead (while its run is still working)."""

    @abc.abstractmethod
    def release(self, fp: str, holder: str) -> None:
        """Give the lease up (the run ended, however)."""

    # ------------------------------------------------------------------ rows

    @abc.abstractmethod
    def latest(self, fp: str) -> Entry | None:
        """The newest row of a request."""

    @abc.abstractmethod
    def by_task_id(self, task_id: str) -> Entry | None:
        """The newest row of a service task id."""

    @abc.abstractmethod
    def recent(self, limit: int = 20, status: str | None = None, op_id: str | None = None) -> list[Entry]:
        """The newest rows, newest first (only those with `status` and of operation `op_id` when given)."""

    @abc.abstractmethod
    def start(self, fp: str, service: str, op_id: str, params: Mapping[str, Any], upload_sha256: str | None,
              variation: int, account: str | None = None) -> int:
        """Record a submission about to be sent (before it could be charged); returns the row id.

        Refuses (JournalError) when the request already has a row that is not failed: that can only happen
        when this run lost its lease, and sending would pay twice.
        """

    @abc.abstractmethod
    def submitted(self, entry_id: int, task_id: str, remaining_count: Any = None, remaining_money: Any = None) -> None:
        """The service created the task: keep its id (and the balance it reported)."""

    @abc.abstractmethod
    def adopt(self, service: str, op_id: str, task_id: str, account: str | None = None) -> int:
        """Record a task known only by id (fetched by hand) so its result is kept; returns the row id."""

    @abc.abstractmethod
    def set_status(self, entry_id: int, status: str, error: str | None = None,
                   only_if: str | tuple[str, ...] | None = None) -> None:
        """Set a row's status; with `only_if`, only while the row still has that status (or one of them)."""

    @abc.abstractmethod
    def _record_done(self, entry_id: int, stored: dict[str, Any], remaining_count: int | float | None,
                     remaining_money: int | float | None) -> None:
        """Mark a row done with its result's file hashes and URLs."""

    @abc.abstractmethod
    def median_duration(self, op_id: str, last: int = 20) -> float | None:
        """Median seconds from submit to finish of this operation's recent tasks (for the ETA)."""

    @abc.abstractmethod
    def account_stats(self, since: float | None = None) -> list[AccountStats]:
        """Per account, across every worker: new tasks since `since` (default: local midnight), balance seen."""

    def close(self) -> None:
        """Let go of connections kept open between calls; the journal stays usable (it reconnects)."""
        return None

    def finished(self, entry_id: int, result: Any) -> None:
        """Keep a finished task's files on this machine and mark it done."""
        stored = self._store_result(result)
        self._record_done(entry_id, stored, number(result.remaining_count), number(result.remaining_money))
        self.evict()

    # ------------------------------------------------------------------ result files (local to this machine)

    def _put_blob(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        path = self.blob_dir / sha
        try:
            if path.exists():
                os.utime(path)  # used now: the newest to be evicted
            else:
                tmp = path.with_name(f"{sha}.{self.owner.replace(':', '-')}.part")
                tmp.write_bytes(data)
                os.replace(tmp, path)
                with self._files_lock:
                    if self._known_bytes is not None:
                        self._known_bytes += len(data)
        except OSError as exc:
            raise self._folder_error(exc) from None
        return sha

    def _get_blob(self, sha: Any) -> bytes | None:
        if not isinstance(sha, str) or not _SHA.fullmatch(sha):  # a row names a file by its hash, nothing else
            return None
        path = self.blob_dir / sha
        try:
            data = path.read_bytes()
        except OSError:
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return data

    def _store_result(self, result: Any) -> dict[str, Any]:
        def put(data: bytes | None) -> str | None:
            return self._put_blob(data) if data else None

        urls = json.loads(redact(json.dumps(result.urls, ensure_ascii=False)))  # an echoed key is not stored
        return {"images": [put(b) for b in result.images], "grid": put(result.grid),
                "image_1x": put(result.image_1x), "vector": put(result.vector),
                "svgs": [put(b) for b in result.svgs], "prompt": redact(result.prompt), "urls": urls,
                **({"window": [round(x, 3) for x in result.window]} if result.window else {})}

    def load_files(self, entry: Entry) -> dict[str, Any] | None:
        """The kept files of a finished entry, or None when any is not on this machine (evicted, or the
        task ran elsewhere): the caller then fetches it again from the service, free."""
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
        """Remove least recently used result files beyond the size bound; returns bytes freed.

        The folder is scanned only when our own additions may have crossed the bound, or once a minute (other
        processes sharing the folder add files too), so a finished task rarely pays for a scan.
        """
        with self._files_lock:
            known, fresh = self._known_bytes, time.monotonic() - self._scanned < RESCAN_SECONDS
            if known is not None and known <= self.cache_bytes and fresh:
                return 0
            files = []
            try:
                with os.scandir(self.blob_dir) as it:
                    for item in it:
                        if _SHA.fullmatch(item.name):
                            try:
                                st = item.stat()
                            except OSError:
                                continue
                            files.append((st.st_mtime, st.st_size, item.name))
            except OSError as exc:
                log.warning("kept results could not be listed: %s", exc)
                return 0
            files.sort(reverse=True)
            total, freed, dropped = 0, 0, 0
            for _, size, name in files:
                if total + size <= self.cache_bytes:
                    total += size
                    continue
                try:
                    (self.blob_dir / name).unlink()
                    freed += size
                    dropped += 1
                except OSError:
                    total += size
            self._known_bytes, self._scanned = total, time.monotonic()
        if dropped:
            log.info("evicted %d cached result file(s), %d bytes", dropped, freed)
        return freed


def describe(entries: list[Entry], now: float | None = None) -> str:
    """A plain table of journal entries: when, operation, status, task id, balance seen."""
    now = now or time.time()
    lines = [f"{'age':>8}  {'operation':<18} {'status':<10} {'task id':<36} balance seen"]
    for e in entries:
        lines.append(f"{_age(now - e.created_at):>8}  {e.op_id:<18} {e.status:<10} {e.task_id or '-':<36} "
                     f"{_balance(e.remaining_count, e.remaining_money)}")
    return "\n".join(lines)


def describe_accounts(stats: list[AccountStats], now: float | None = None) -> str:
    """Per account, across every worker sharing the journal: spend today and the newest balance seen."""
    if not stats:
        return ""
    now = now or time.time()
    lines = [f"{'account':<16}  {'service':<9} {'new today':>9} {'uncertain':>9}  balance seen"]
    for s in stats:
        seen = _balance(s.remaining_count, s.remaining_money)
        if seen and s.balance_at is not None:
            seen += f" ({_age(now - s.balance_at)} ago)"
        lines.append(f"{s.account:<16}  {s.service:<9} {s.submitted:>9} {s.uncertain:>9}  {seen or '-'}")
    return "\n".join(lines)


def _age(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m" if seconds < 7200 else f"{seconds / 3600:.1f}h"


def _balance(count: Any, money: Any) -> str:
    if count is None and money is None:
        return ""
    return f"{count if count is not None else '?'} left / ¥{money}"


def owner_only(path: Path, mode: int) -> None:
    """Private to the user whatever the umask; POSIX modes do not apply on Windows (ACLs do), so failures
    to set them are ignored."""
    try:
        os.chmod(path, mode)
    except OSError:
        pass
