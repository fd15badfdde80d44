"""The task journal: every paid task counted exactly once, every finished result kept.

Each submission is recorded before it is polled: the request's fingerprint (operation + canonical
parameters + SHA-256 of the uploaded bytes + variation + account), the task id, timestamps, status, result
URLs and the balance seen.  Finished results are kept as content-addressed files under `results/` on this
machine, bounded in total size (oldest used evicted first); a result that is not here is fetched again from
the service at no cost.  A lease per fingerprint (renewed while a run holds it, lapsing when it stops)
makes sure two runs never submit the same request at the same moment: the second waits, then reuses.

One interface (`JournalBase`, in journal_base.py), two backends:
- `SqliteJournal` (journal_sqlite.py): a file on this machine, the default; `Journal` is its old name.
- `PostgresJournal` (journal_postgres.py): one database shared by several machines, when
  `HDREDRAW_JOURNAL_URL` is a `postgresql://` URL.  Its driver is imported only then.
`open_journal(settings)` picks one; nothing else should construct them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import JournalError
from .journal_base import (
    ADOPTED_PREFIX,
    DEFAULT_CACHE_MB,
    DONE,
    FAILED,
    LEASE_SECONDS,
    PENDING,
    RENEW_EVERY,
    SUBMITTING,
    UNCERTAIN,
    AccountStats,
    Entry,
    JournalBase,
    describe,
    describe_accounts,
    start_of_today,
)
from .journal_sqlite import SqliteJournal

if TYPE_CHECKING:
    from .config import Settings

MIN_LEASE_SECONDS = 2.0

Journal = SqliteJournal  # the name every caller used before there were two backends

__all__ = [
    "ADOPTED_PREFIX", "DEFAULT_CACHE_MB", "DONE", "FAILED", "LEASE_SECONDS", "PENDING", "RENEW_EVERY", "SUBMITTING",
    "UNCERTAIN", "AccountStats", "Entry", "Journal", "JournalBase", "SqliteJournal", "describe",
    "describe_accounts", "open_journal", "start_of_today",
]


def open_journal(settings: Settings, directory: str | os.PathLike[str] | None = None) -> JournalBase:
    """The journal the settings ask for: PostgreSQL when `journal_url` is set, else the SQLite file.

    `directory` (default: the data folder) holds the SQLite file and, for both backends, this machine's kept
    result files.  A wrong URL, a missing driver or an unreachable database is one JournalError that says
    what to do, never a traceback.
    """
    from . import config

    folder = Path(directory) if directory is not None else config.data_dir()
    url = (getattr(settings, "journal_url", "") or "").strip()
    # A running holder renews on its ~0.2 s ticks: below MIN_LEASE_SECONDS a short hiccup would lose its lease.
    lease = max(MIN_LEASE_SECONDS, float(getattr(settings, "lease_seconds", LEASE_SECONDS) or LEASE_SECONDS))
    if not url:
        return SqliteJournal(folder, settings.cache_mb, lease_seconds=lease)
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("postgresql", "postgres"):
        raise JournalError(  # the value itself is not shown: it may hold a password
            "HDREDRAW_JOURNAL_URL must be a postgresql://user:password@host/database URL; leave it empty to use the "
            "local SQLite journal.",
            "HDREDRAW_JOURNAL_URL 必须是 postgresql://用户:密码@主机/数据库 形式的地址;留空则使用本地 SQLite 任务记录。")
    from .journal_postgres import PostgresJournal

    return PostgresJournal(url, folder, settings.cache_mb, lease_seconds=lease,
                           connect_timeout=getattr(settings, "connect_timeout", 10.0))
