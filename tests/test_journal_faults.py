"""The journal fails: nothing is paid before it can be written, a paid task id is never lost, one clear message.

Tests that take `backend` run once per journal backend (SQLite file, PostgreSQL); the others are about the
SQLite file itself.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from commands import start_python
from helpers import wait_for

from hdredraw.engine import errors
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import Journal

ROOT = Path(__file__).resolve().parents[1]


def picture(seed=0, h=40, w=48):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)




def test_a_damaged_journal_is_one_clear_message_naming_the_file(tmp_path):
    folder = tmp_path / "j"
    folder.mkdir()
    (folder / "journal.sqlite3").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(errors.JournalError) as info:
        Journal(folder)
    assert str(folder / "journal.sqlite3") in info.value.en and "rename" in info.value.en.lower()
    assert "sqlite3" not in type(info.value).__module__


def test_a_journal_folder_that_cannot_exist_is_one_clear_message(tmp_path):
    (tmp_path / "blocked").write_text("a file where the folder should be")
    with pytest.raises(errors.JournalError) as info:
        Journal(tmp_path / "blocked" / "journal")
    assert "HDREDRAW_DATA_DIR" in info.value.en


def test_a_journal_that_cannot_be_written_stops_the_run_before_it_pays(make_settings, tmp_path, emu, backend):
    journal = backend.make(tmp_path / "j")
    backend.cut(tmp_path / "j")
    c = Client(make_settings(), journal=journal)
    with pytest.raises(errors.JournalError) as info:
        c.run("remove_fabric", picture())
    assert not emu.submissions and "journal" in info.value.en
    if backend.name == "sqlite":  # the file was deleted under the running process: say how to start afresh
        assert "restart it to start a new, empty journal" in info.value.en and "重新启动" in info.value.zh


def test_a_journal_lost_while_a_submit_is_in_flight_still_shows_the_task_id(make_settings, tmp_path, emu, fast_polls,
                                                                            backend):
    emu.status_cache = 0.0
    emu.inject("submit", "late", seconds=1.0)
    journal = backend.make(tmp_path / "j")
    c = Client(make_settings(), journal=journal)
    threading.Thread(target=lambda: (wait_for(lambda: emu.submissions, "the submit"),
                                     backend.cut(tmp_path / "j")), daemon=True).start()
    texts: list[str] = []
    with pytest.raises(errors.JournalError) as info:
        c.run("remove_fabric", picture(), on_progress=lambda p: texts.append(p.text()))
    task_id = emu.submissions[0]["task_id"]
    assert info.value.task_id == task_id and task_id in str(info.value) and "fetch" in info.value.en
    assert any(task_id in t for t in texts)  # the node's status text showed it too
    result = Client(make_settings()).fetch(task_id)  # and the paid result is still there
    assert result.images and len(emu.submissions) == 1


def test_a_dead_processs_lease_is_taken_over_at_once(make_settings, tmp_path, emu, fast_polls, backend):
    emu.status_cache = 0.0
    folder = tmp_path / "j"
    backend.make(folder)
    c = Client(make_settings(), journal=backend.make(folder))
    upload = c.prepare(c_op := __import__("hdredraw.engine.specs", fromlist=["get"]).get("remove_fabric"), picture())
    fp = c.fingerprint(c_op, upload, c_op.validate({}), 0)
    code = ("import sys, os; sys.path.insert(0, sys.argv[1]); import runpy; runpy.run_path(sys.argv[1] + "
            "'/tools/dev.py')['register'](__import__('pathlib').Path(sys.argv[1]));"
            "from hdredraw.engine import config; from hdredraw.engine.journal import open_journal;"
            "j = open_journal(config.load(), sys.argv[2]);"
            "assert j.try_lease(sys.argv[3], j.new_holder()); os._exit(0)")
    holder = start_python(["-c", code, str(ROOT), str(folder), fp])
    assert holder.wait(60) == 0, holder.communicate()[1]
    notes: list[str] = []
    result = c.run("remove_fabric", picture(), on_progress=lambda p: notes.append(p.note))
    assert result.images and len(emu.submissions) == 1
    assert not any("Waiting" in n for n in notes)  # taken over, not waited out


def test_a_live_holder_in_this_process_is_waited_for(tmp_path, backend):
    journal = backend.make(tmp_path / "j")
    first, second = journal.new_holder(), journal.new_holder()
    assert journal.try_lease("fp", first)
    assert not journal.try_lease("fp", second)
    journal.release("fp", first)
    assert journal.try_lease("fp", second)


def test_a_holder_this_process_has_forgotten_is_taken_over(tmp_path, backend):
    journal = backend.make(tmp_path / "j")
    first = journal.new_holder()
    assert journal.try_lease("fp", first)
    from hdredraw.engine import owners

    owners.forget(first)  # its run ended without releasing (e.g. killed thread)
    assert journal.try_lease("fp", journal.new_holder())


def test_the_journal_folder_is_private_whatever_the_umask(tmp_path):
    if os.name == "nt":
        pytest.skip("POSIX modes do not apply on Windows")
    old = os.umask(0)
    try:
        Journal(tmp_path / "open" / "j")
    finally:
        os.umask(old)
    assert (tmp_path / "open" / "j").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "open" / "j" / "results").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "open" / "j" / "journal.sqlite3").stat().st_mode & 0o777 == 0o600
