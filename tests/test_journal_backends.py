"""One journal interface, two backends: leases that lapse, starts that cannot happen twice, per-account
numbers across workers, versioned schemas, and clear errors.  Each test that takes `backend` runs on the
SQLite file and on PostgreSQL; the rest are about one backend and say so."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from commands import run_hdredraw, start_python

from hdredraw.engine import config, errors, journal_sqlite
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import DONE, FAILED, PENDING, SUBMITTING, SqliteJournal, open_journal
from hdredraw.engine.request import account_id

ROOT = Path(__file__).resolve().parents[1]
OTHER_MACHINE = "worker-b.example:4242:0badc0de:01234567"  # a holder on another machine: never probed


def picture(seed=0, h=40, w=48):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def wait_for(predicate, what: str, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


# --------------------------------------------------------------------------- leases and starts, both backends

def test_the_lease_of_a_worker_that_stopped_renewing_lapses(backend, tmp_path):
    journal = backend.make(tmp_path / "j", lease_seconds=0.5)
    assert journal.try_lease("fp", OTHER_MACHINE)
    mine = journal.new_holder()
    assert not journal.try_lease("fp", mine)  # alive as far as anyone here can tell: waited for
    wait_for(lambda: journal.try_lease("fp", mine), "the lease to lapse")
    assert not journal.try_lease("fp", OTHER_MACHINE)  # and now it is ours
    journal.release("fp", mine)
    assert journal.try_lease("fp", OTHER_MACHINE)


def test_a_renewed_lease_is_kept(backend, tmp_path):
    journal = backend.make(tmp_path / "j", lease_seconds=0.6)
    assert journal.renew_every == pytest.approx(0.2)
    holder = journal.new_holder()
    assert journal.try_lease("fp", holder)
    stop = time.monotonic() + 1.5  # well past one lease: only the renewals keep it
    while time.monotonic() < stop:
        journal.renew("fp", holder)
        assert not journal.try_lease("fp", OTHER_MACHINE)
        time.sleep(journal.renew_every)


def test_a_request_is_started_once_however_many_try_at_the_same_moment(backend, tmp_path):
    journals = [backend.make(backend.folder(tmp_path, f"w{i}")) for i in range(2)]
    barrier = threading.Barrier(8)
    started: list[int] = []
    refused: list[errors.JournalError] = []

    def go(i: int) -> None:
        barrier.wait()
        try:
            started.append(journals[i % 2].start("fp", "hdredraw", "seamless", {}, None, 0, "acct"))
        except errors.JournalError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(started) == 1 and len(refused) == 7
    assert "nothing was sent" in refused[0].en and "未发送" in refused[0].zh
    journals[0].set_status(started[0], FAILED, "refused")  # a failed attempt cost nothing: a new one may start
    assert journals[1].start("fp", "hdredraw", "seamless", {}, None, 0, "acct") != started[0]


def test_a_run_that_lost_its_lease_while_paused_does_not_pay_twice(backend, make_settings, tmp_path, emu, fast_polls):
    emu.status_cache = 0.0
    paused = backend.make(backend.folder(tmp_path, "a"), lease_seconds=0.5)
    other = backend.make(backend.folder(tmp_path, "b"))
    slow = Client(make_settings(), journal=paused)
    op = __import__("hdredraw.engine.specs", fromlist=["get"]).get("remove_fabric")
    fp = slow.fingerprint(op, slow.prepare(op, picture()), op.validate({}))
    assert paused.try_lease(fp, OTHER_MACHINE)  # "a" checked the journal: nothing there yet ... then froze
    assert paused.latest(fp) is None
    taker = other.new_holder()
    wait_for(lambda: other.try_lease(fp, taker), "the frozen run's lease to lapse")
    other.release(fp, taker)
    first = Client(make_settings(), journal=other).run("remove_fabric", picture())  # "b" does the work
    with pytest.raises(errors.JournalError, match="Another run"):
        paused.start(fp, "hdredraw", "remove_fabric", {}, None, 0)  # "a" wakes up: refused, nothing sent
    assert len(emu.submissions) == 1 and other.latest(fp).task_id == first.task_id


# --------------------------------------------------------------------------- per-account numbers, both backends

def test_spend_today_and_balance_seen_are_per_account_across_workers(backend, make_settings, tmp_path, emu,
                                                                    fast_polls):
    emu.status_cache = 0.0
    emu.add_account("studio-key-one", 50, 100)
    emu.add_account("studio-key-two", 7, 0)
    one, two = make_settings(hdredraw_user_key="studio-key-one"), make_settings(hdredraw_user_key="studio-key-two")
    a, b = backend.make(backend.folder(tmp_path, "worker-a")), backend.make(backend.folder(tmp_path, "worker-b"))
    Client(one, journal=a).run_many("remove_fabric", [picture(1), picture(2)], {})
    Client(one, journal=b).run("remove_fabric", picture(3), {})
    Client(one, journal=b).run("remove_fabric", picture(1), {})  # reused: free, not counted
    Client(two, journal=b).run("face_enhance", picture(4), {})
    plain = Client(one).run("seamless", picture(5), {})  # submitted by another tool, then fetched: not ours
    Client(one, journal=a).fetch(plain.task_id)
    assert len(emu.submissions) == 5
    for journal in (a, b):  # every worker sees the same numbers
        stats = {s.account: s for s in journal.account_stats()}
        first, second = stats[account_id(emu.base_url, "studio-key-one")], stats[account_id(emu.base_url,
                                                                                           "studio-key-two")]
        assert (first.submitted, first.uncertain, first.remaining_count) == (3, 0, 46)  # 50 - 3 - the fetched one
        assert (second.submitted, second.remaining_count) == (1, 6)
    assert all(s.submitted == 0 for s in a.account_stats(since=time.time() + 60))  # "today" has a start


@pytest.mark.long
def test_hdredraw_tasks_shows_the_per_account_numbers(backend, emu, tmp_path):
    (tmp_path / "a.png").write_bytes(__import__("hdredraw.engine.codecs", fromlist=["x"]).encode_png(picture(1)))
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key,
           "HDREDRAW_DATA_DIR": str(tmp_path / "data")}
    emu.processing_time = 0.1
    out = run_hdredraw(["run", "remove_fabric", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")], env=env)
    assert out.returncode == 0, out.stderr
    mine = account_id(emu.base_url, emu.user_key)

    def account_row(data_dir: Path) -> str | None:
        listing = run_hdredraw(["tasks"], env={**env, "HDREDRAW_DATA_DIR": str(data_dir)}, timeout=60)
        assert listing.returncode == 0, listing.stderr
        return next((line for line in listing.stdout.splitlines() if line.startswith(mine)), None)

    row = account_row(tmp_path / "data")
    assert row is not None and row.split()[1:4] == ["hdredraw", "1", "0"] and "99 left" in row
    # another machine's data folder: the same numbers when the journal is shared, none with a SQLite file
    other = account_row(tmp_path / "elsewhere")
    if backend.name == "postgresql":
        assert other is not None and other.split()[:4] == row.split()[:4] and "99 left" in other
    else:
        assert other is None


# --------------------------------------------------------------------------- schema versions

SCHEMA_AS_RELEASED = journal_sqlite.MIGRATIONS[0][1]


def test_a_sqlite_file_from_the_first_release_is_migrated_and_keeps_its_rows(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    with sqlite3.connect(folder / "journal.sqlite3") as db:
        db.executescript(SCHEMA_AS_RELEASED)
        db.execute("INSERT INTO tasks (fingerprint, service, op_id, task_id, status, created_at, submitted_at) "
                   "VALUES ('fp', 'hdredraw', 'seamless', 'T1', 'pending', 1.0, 2.0)")
    journal = SqliteJournal(folder)
    entry = journal.latest("fp")
    assert entry.task_id == "T1" and entry.status == PENDING and entry.account is None
    with sqlite3.connect(folder / "journal.sqlite3") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == journal_sqlite.SCHEMA_VERSION
    SqliteJournal(folder)  # opening again changes nothing


def test_a_sqlite_file_from_a_newer_pack_is_refused(tmp_path):
    folder = tmp_path / "new"
    SqliteJournal(folder)
    with sqlite3.connect(folder / "journal.sqlite3") as db:
        db.execute(f"PRAGMA user_version={journal_sqlite.SCHEMA_VERSION + 1}")
    with pytest.raises(errors.JournalError) as info:
        SqliteJournal(folder)
    assert "newer version" in info.value.en and "更新版本" in info.value.zh


def test_processes_opening_a_new_journal_at_the_same_moment_all_succeed(backend, tmp_path):
    """The first open creates the file (or tables); SQLite answers "locked" at once to a second process
    switching a new file to WAL at the same moment, which must be tried again, not reported."""
    code = ("import os, sys, time, runpy; runpy.run_path(sys.argv[1] + '/tools/dev.py')['register']()\n"
            "from hdredraw.engine import config; from hdredraw.engine.journal import open_journal\n"
            "open(sys.argv[2] + '.ready' + sys.argv[3], 'w').close()\n"
            "while not os.path.exists(sys.argv[2] + '.go'): time.sleep(0.002)\n"
            "open_journal(config.load(), sys.argv[2]).latest('fp')\n")
    folder = backend.folder(tmp_path, "new")
    procs = [start_python(["-c", code, str(ROOT), str(folder), str(i)]) for i in range(6)]
    wait_for(lambda: all(Path(f"{folder}.ready{i}").exists() for i in range(6)), "the processes", limit=60)
    Path(f"{folder}.go").touch()  # all at once
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs


def test_the_database_schema_is_created_once_versioned_and_migrated_forward(pg_url, tmp_path, monkeypatch):
    import psycopg

    from hdredraw.engine import journal_postgres

    settings = config.Settings(journal_url=pg_url)
    opened: list = []
    threads = [threading.Thread(target=lambda i=i: opened.append(open_journal(settings, tmp_path / f"w{i}")))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(opened) == 4  # four workers starting at once: one creates the tables, the others wait
    entry = opened[0].start("fp", "hdredraw", "seamless", {"a": "1"}, None, 0, "acct")
    prices = (2, "CREATE TABLE hdredraw_prices (account TEXT NOT NULL, op_id TEXT NOT NULL, price NUMERIC, "
                 "PRIMARY KEY (account, op_id))")  # how a later release adds a table
    monkeypatch.setattr(journal_postgres, "MIGRATIONS", (*journal_postgres.MIGRATIONS, prices))
    monkeypatch.setattr(journal_postgres, "SCHEMA_VERSION", 2)
    upgraded = open_journal(settings, tmp_path / "w0")
    assert upgraded.latest("fp").id == entry
    with psycopg.connect(pg_url) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM hdredraw_schema ORDER BY version")] == [1, 2]
        assert conn.execute("SELECT count(*) FROM hdredraw_prices").fetchone()[0] == 0
        conn.execute("INSERT INTO hdredraw_schema (version) VALUES (3)")
    monkeypatch.undo()
    with pytest.raises(errors.JournalError) as info:
        open_journal(settings, tmp_path / "w0")
    assert "newer version" in info.value.en and "更新版本" in info.value.zh
    for journal in [*opened, upgraded]:
        journal.close()


# --------------------------------------------------------------------------- PostgreSQL: what is and is not stored

def test_results_are_never_stored_in_the_database(pg_url, make_settings, tmp_path, emu, fast_polls):
    import psycopg

    emu.status_cache = 0.0
    journal = open_journal(config.Settings(journal_url=pg_url), tmp_path / "j")
    result = Client(make_settings(), journal=journal).run("seamless", picture(h=200, w=200), {})
    size = len(result.images[0]) + len(result.grid or b"") + len(result.image_1x or b"")
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT length(t::text), t.result FROM hdredraw_tasks t").fetchone()
    assert size > 50_000 and row[0] < 3_000  # hashes, URLs and the task id, not the files
    assert row[1]["images"] == [__import__("hashlib").sha256(result.images[0]).hexdigest()]
    journal.close()


def test_a_connection_the_server_dropped_is_replaced_without_an_error(pg_url, pg_server, tmp_path):
    journal = open_journal(config.Settings(journal_url=pg_url), tmp_path / "j")
    assert journal.latest("fp") is None  # a pooled connection now exists
    db = pg_url.rsplit("/", 1)[1]
    pg_server.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
    assert journal.latest("fp") is None
    journal.close()


# --------------------------------------------------------------------------- clear errors, no password anywhere

def test_a_wrong_password_or_an_unreachable_server_is_one_clear_message_without_the_password(pg_server, tmp_path,
                                                                                             caplog):
    caplog.set_level(logging.DEBUG)
    wrong = pg_server.url("postgres", password="Wrong-Pa55word-xyz")
    with pytest.raises(errors.JournalError) as info:
        open_journal(config.Settings(journal_url=wrong), tmp_path / "j")
    assert "password" in info.value.en and "密码" in info.value.zh and "HDREDRAW_JOURNAL_URL" in info.value.en
    gone = f"postgresql://hdredraw:Other-Pa55word-xyz@127.0.0.1:{pg_server.port + 1}/x"  # nothing listens there
    if pg_server.port + 1 == 65536:
        gone = gone.replace(str(pg_server.port + 1), "1")
    with pytest.raises(errors.JournalError) as gone_info:
        open_journal(config.Settings(journal_url=gone, connect_timeout=3), tmp_path / "j")
    assert "cannot be reached" in gone_info.value.en and "无法连接" in gone_info.value.zh
    shown = str(info.value) + info.value.zh + str(gone_info.value) + gone_info.value.zh + caplog.text
    assert "Pa55word" not in shown and "127.0.0.1" in shown


def test_the_journal_needs_no_driver_until_a_postgresql_url_is_set(tmp_path):
    code = f"""
import json, runpy, sys
sys.modules["psycopg"] = None  # as if it were not installed
runpy.run_path({str(ROOT / 'tools' / 'dev.py')!r})["register"]()
from hdredraw.engine import cli, config, errors, jobs
from hdredraw.engine.journal import open_journal
open_journal(config.Settings(), {str(tmp_path / 'j')!r}).latest("fp")
try:
    open_journal(config.Settings(journal_url="postgresql://me:Se3cret-pw@db.example/x"), {str(tmp_path / 'j')!r})
except errors.JournalError as exc:
    print(json.dumps({{"en": exc.en, "zh": exc.zh}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    message = json.loads(out.stdout.strip().splitlines()[-1])
    assert 'psycopg[binary]' in message["en"] and 'psycopg[binary]' in message["zh"]
    assert "Se3cret" not in out.stdout + out.stderr


def test_a_url_that_is_not_postgresql_is_refused_without_showing_it(tmp_path):
    with pytest.raises(errors.JournalError) as info:
        open_journal(config.Settings(journal_url="mysql://me:Se3cret-pw@db/x"), tmp_path / "j")
    assert "postgresql://" in info.value.en and "Se3cret" not in str(info.value) + info.value.zh


# --------------------------------------------------------------------------- two machines, one database

WORKER = """
import hashlib, json, os, runpy, sys, time
runpy.run_path(sys.argv[1] + "/tools/dev.py")["register"]()
from hdredraw.engine import owners
owners._HOST = sys.argv[2]  # a machine of its own: its holders are never probed from here
import numpy as np
from hdredraw.engine import config, jobs
from hdredraw.engine.journal import open_journal
jobs.FIRST_POLL_DELAY, jobs.HDREDRAW_POLL_INTERVAL = 0.05, 0.3
settings = config.load()
client = jobs.Client(settings, journal=open_journal(settings, sys.argv[3]))
image = np.random.default_rng(7).random((32, 32, 3)).astype("float32")
open(sys.argv[3] + ".ready", "w").close()  # its journal is open: ready for the starting signal
while not os.path.exists(sys.argv[4]):
    time.sleep(0.005)
seen = []
result = client.run("remove_fabric", image, {}, on_progress=lambda p: seen.append(p.note))
print(json.dumps({"task_id": result.task_id, "image": hashlib.sha256(result.images[0]).hexdigest(),
                  "notes": [n.en for n in result.notes], "seen": sorted(set(filter(None, seen)))}))
"""


def start_worker(tmp_path: Path, emu, machine: str, folder: Path, go: Path, **env: str):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    full = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key, **env}
    return start_python([str(script), str(ROOT), machine, str(folder), str(go)], env=full)


def outcome(proc) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.long
def test_two_machines_with_the_same_request_at_the_same_moment_submit_once(pg_url, emu, tmp_path):
    emu.status_cache = 0.0
    emu.processing_time = 1.0
    go = tmp_path / "go"
    workers = [start_worker(tmp_path, emu, f"machine-{i}", tmp_path / f"data-{i}", go, HDREDRAW_JOURNAL_URL=pg_url)
               for i in range(2)]
    wait_for(lambda: all(Path(f"{tmp_path / f'data-{i}'}.ready").exists() for i in range(2)), "the workers", limit=60)
    go.touch()  # both at once
    first, second = (outcome(p) for p in workers)
    assert len(emu.submissions) == 1
    assert first["task_id"] == second["task_id"] == emu.submissions[0]["task_id"]
    assert first["image"] == second["image"]
    # the one that waited holds no copy in its own data folder: it fetched the result again, free
    waited = first if any("Waiting" in n for n in first["seen"]) else second
    assert any("Waiting" in n for n in waited["seen"]) and any("again" in n for n in waited["notes"])


@pytest.mark.long
def test_a_worker_killed_mid_poll_is_finished_by_another_machine_without_paying_again(pg_url, emu, tmp_path):
    emu.status_cache = 0.0
    emu.processing_time = 4.0
    lease = {"HDREDRAW_JOURNAL_URL": pg_url, "HDREDRAW_LEASE_SECONDS": "2"}
    (tmp_path / "go-a").touch()
    owner = start_worker(tmp_path, emu, "machine-a", tmp_path / "data-a", tmp_path / "go-a", **lease)
    other = start_worker(tmp_path, emu, "machine-b", tmp_path / "data-b", tmp_path / "go-b", **lease)
    watcher = open_journal(config.Settings(journal_url=pg_url), tmp_path / "watcher")
    wait_for(lambda: (watcher.recent(1) or [None])[0] is not None and watcher.recent(1)[0].status == PENDING,
             "machine a's task to be submitted", limit=60)
    wait_for(lambda: Path(f"{tmp_path / 'data-b'}.ready").exists(), "machine b", limit=60)
    owner.kill()  # mid-poll, holding the lease
    owner.communicate(timeout=30)
    __import__("shutil").rmtree(tmp_path / "data-a")  # ... and its disk is gone with it
    paid = len(emu.submissions)
    (tmp_path / "go-b").touch()  # machine b gets the same inputs
    second = outcome(other)
    assert paid == 1 and len(emu.submissions) == 1  # 0 new submissions
    assert second["task_id"] == emu.submissions[0]["task_id"]
    assert any("Waiting" in n for n in second["seen"])  # the lease of machine a held until it lapsed
    assert any("Resuming" in n for n in second["notes"])
    assert watcher.recent(1)[0].status == "done"
    watcher.close()


def test_a_lease_too_short_to_be_renewed_in_time_is_raised_to_the_minimum(tmp_path):
    journal = open_journal(config.Settings(lease_seconds=0.1), tmp_path / "j")
    assert journal.lease_seconds == 2.0 and journal.renew_every == pytest.approx(2.0 / 3)


def test_recent_rows_can_be_narrowed_to_a_status_and_an_operation(backend, tmp_path):
    """The progress estimate reads only its own operation's finished tasks, however mixed the history."""
    journal = backend.make(tmp_path / "j")
    for i, op in enumerate(["face_enhance", "seamless", "face_enhance"]):
        journal.start(f"fp-{i}", "hdredraw", op, {}, None, 0)
    assert [e.fingerprint for e in journal.recent(10, op_id="face_enhance")] == ["fp-2", "fp-0"]
    assert [e.fingerprint for e in journal.recent(10, SUBMITTING, "seamless")] == ["fp-1"]
    assert journal.recent(10, DONE, "seamless") == [] and len(journal.recent(10)) == 3
