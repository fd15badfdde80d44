"""Journal cost: operations per second on each backend, and what the journal adds to one task.

A paid task makes the same journal calls whatever the service does: take the lease, look for an earlier
row, start a row, record the task id, read the ETA history, renew the lease, keep the result (one 256 KB
file, written on this machine by both backends) and release the lease.  A re-run of the same request takes
the lease, finds the row, reads the kept file and releases.  This times those exact call sequences, on one
thread and on 4 at once (a batch), against a SQLite file and a PostgreSQL server on 127.0.0.1 started for
the run with the server's default durability (fsync on, synchronous commit).  Each task's journal time is
timed on its own: the median is what the journal adds to a task; ops/s is calls over wall time.
Run: python benchmarks/bench_journal.py [--tasks 300]
"""

from __future__ import annotations

import argparse
import os
import runpy
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _common import ROOT, load_pack, machine, table

TASK_SECONDS = 2.0  # the budget: the journal may add at most 1% of a 2 s task
NEW_TASK_CALLS = 9  # new_holder is local; these go to the backend
REUSE_CALLS = 4


def new_task(journal, i: int, prefix: str, payload: bytes):
    from hdredraw.engine.progress import TaskResult

    fp = f"{prefix}-{i}"
    holder = journal.new_holder()
    assert journal.try_lease(fp, holder)
    assert journal.latest(fp) is None
    entry = journal.start(fp, "hdredraw", "seamless", {"fit": "0.5"}, "0" * 64, 0, "bench-account")
    journal.submitted(entry, f"task-{prefix}-{i}", 99, 300)
    journal.median_duration("seamless")
    journal.renew(fp, holder)
    result = TaskResult(f"task-{prefix}-{i}", "seamless", "hdredraw", images=[payload + i.to_bytes(4, "big")],
                        urls={"images": [f"https://results.example/{i}.png"]}, remaining_count=99,
                        remaining_money=300)
    journal.finished(entry, result)
    journal.release(fp, holder)


def reuse(journal, i: int, prefix: str) -> None:
    fp = f"{prefix}-{i}"
    holder = journal.new_holder()
    assert journal.try_lease(fp, holder)
    entry = journal.latest(fp)
    assert journal.load_files(entry) is not None
    journal.release(fp, holder)


def timed(fn, count: int, threads: int) -> tuple[float, list[float]]:
    """Wall seconds for `count` calls of fn(i) spread over `threads` threads, and each call's seconds."""
    chunks = [range(k, count, threads) for k in range(threads)]
    each: list[float] = []

    def run(chunk: range) -> None:
        for i in chunk:
            t0 = time.perf_counter()
            fn(i)
            each.append(time.perf_counter() - t0)

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0, each


def measure(name: str, journal, tasks: int, payload: bytes) -> list[list]:
    rows = []
    for threads in (1, 4):
        prefix = f"{name}-{threads}-{secrets.token_hex(4)}"
        new_s, each = timed(lambda i, p=prefix: new_task(journal, i, p, payload), tasks, threads)
        reuse_s, _ = timed(lambda i, p=prefix: reuse(journal, i, p), tasks, threads)
        median_ms = statistics.median(each) * 1000  # what the journal adds to one task's wall time
        p95_ms = statistics.quantiles(each, n=20)[-1] * 1000
        rows.append([name, threads, f"{tasks * NEW_TASK_CALLS / new_s:,.0f}", f"{tasks * REUSE_CALLS / reuse_s:,.0f}",
                     f"{median_ms:.1f}", f"{p95_ms:.1f}", f"{median_ms / (TASK_SECONDS * 1000) * 100:.2f}%"])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=300)
    args = ap.parse_args()
    load_pack()
    from hdredraw.engine.journal_postgres import PostgresJournal
    from hdredraw.engine.journal_sqlite import SqliteJournal

    payload = os.urandom(256 * 1024)
    folder = Path(tempfile.mkdtemp(prefix="hdredraw-bench-journal-"))
    rows = []
    try:
        sqlite = SqliteJournal(folder / "sqlite")
        rows += measure("SQLite file", sqlite, args.tasks, payload)
        pg_server = runpy.run_path(str(ROOT / "tools" / "pg_server.py"))
        if pg_server["find_bin"]() is None:
            print("PostgreSQL binaries not found: PostgreSQL row skipped (apt-get install postgresql)")
        else:
            with pg_server["TempPostgres"](durable=True) as server:
                url = server.create_database("bench")
                pg = PostgresJournal(url, folder / "pg")
                rows += measure("PostgreSQL 127.0.0.1", pg, args.tasks, payload)
                pg.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"Journal operations, {args.tasks} tasks per run ({machine()})\n")
    print(table(["backend", "threads", "new-task ops/s", "reuse ops/s", "ms per task (median)", "p95 ms",
                 "median of a 2 s task"], rows))
    print(f"\nA new task makes {NEW_TASK_CALLS} journal calls (lease, lookup, start, submitted, ETA, renew, "
          f"finished + 256 KB result file, release); a reuse {REUSE_CALLS}. Target: under 1% of a 2 s task "
          "(20 ms).")


if __name__ == "__main__":
    main()
