"""Ctrl-C in `hdredraw run`: a real child process, a real SIGINT, the real emulator over HTTP.

Nothing here measures wall-clock time: "stopped at once" is shown by what was recorded, i.e. the process
had ended while the emulator's task was still running, and the journal holds every task id.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from commands import run_hdredraw

from hdredraw.engine import codecs, config
from hdredraw.engine.demo import sample_garment
from hdredraw.engine.journal import PENDING, SUBMITTING, UNCERTAIN, Journal

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a child process (POSIX)")


class Child:
    """The CLI in its own process, its output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path):
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "dev.py"), *args], cwd=cwd, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **env})
        self.out: list[str] = []
        self.err: list[str] = []
        self.readers = [threading.Thread(target=self._read, args=(s, buf), daemon=True)
                        for s, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self.readers:
            t.start()

    @staticmethod
    def _read(stream, buf: list[str]) -> None:
        for line in stream:
            buf.append(line)

    @property
    def text(self) -> str:
        return "".join(self.out) + "".join(self.err)

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    def wait(self, timeout: float = 60) -> int:
        rc = self.proc.wait(timeout)
        for t in self.readers:
            t.join(5)
        return rc


def until(predicate, timeout: float = 30.0) -> None:
    """Poll a condition that another process makes true."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def finish_now(emu, task_id: str) -> None:
    """Let an emulator task complete at once (it was created with a long processing time)."""
    with emu._lock:
        emu._tasks[task_id].done_at = time.time()


@pytest.fixture
def env(emu):
    return {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key, "HDREDRAW_READ_TIMEOUT": "60"}


@pytest.fixture
def journal():
    return Journal(config.data_dir())


def images(folder: Path, n: int) -> list[str]:
    names = []
    for i in range(n):
        (folder / f"in{i}.png").write_bytes(codecs.encode_png(sample_garment(40 + 4 * i, seed=i)))
        names.append(f"in{i}.png")
    return names


def test_ctrl_c_stops_at_once_keeps_task_ids_and_the_next_run_resumes_free(emu, env, journal, tmp_path):
    emu.processing_time = 40
    names = images(tmp_path, 2)
    child = Child(["run", "seamless", *names, "-o", "out"], env, tmp_path)
    until(lambda: len(journal.recent(10, PENDING)) == 2)  # both submitted and recorded
    child.interrupt()
    assert child.wait() == 130
    ids = [s["task_id"] for s in emu.submissions]
    assert len(ids) == 2
    assert all(emu.task(t)["status"] != "Completed" for t in ids)  # it ended while the tasks were running
    assert sorted(e.task_id for e in journal.recent(10, PENDING)) == sorted(ids)  # no task id lost
    assert "run the same command again" in child.text and "hdredraw run seamless in0.png in1.png -o out" in child.text
    assert "Traceback" not in child.text
    assert not (tmp_path / "out" / "in0_seamless.png").exists()

    for t in ids:
        finish_now(emu, t)
    again = run_hdredraw(["run", "seamless", *names, "-o", "out"], env=env, cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert len(emu.submissions) == 2  # resumed, not submitted again
    assert "resumed 2" in again.stdout and "nothing charged" in again.stdout
    assert (tmp_path / "out" / "in0_seamless.png").exists() and (tmp_path / "out" / "in1_seamless_grid.png").exists()


def test_ctrl_c_while_waiting_for_a_slot_leaves_nothing_half_done(emu, env, journal, tmp_path):
    """Inputs not yet started are not sent, and no journal row is left 'submitting' (which would block them)."""
    emu.processing_time = 40
    names = images(tmp_path, 6)
    child = Child(["run", "face_enhance", *names, "-o", "out", "--concurrency", "6"],
                  {**env, "HDREDRAW_CONCURRENCY": "2"}, tmp_path)
    until(lambda: len(journal.recent(10, PENDING)) == 2)
    child.interrupt()
    assert child.wait() == 130
    assert len(emu.submissions) == 2
    assert [e for e in journal.recent(50) if e.status in (SUBMITTING, UNCERTAIN)] == []
    assert "4 input(s) not started yet are submitted then" in child.text

    for s in emu.submissions:
        finish_now(emu, s["task_id"])
    emu.processing_time = 0.2
    again = run_hdredraw(["run", "face_enhance", *names, "-o", "out"], env=env, cwd=tmp_path, timeout=90)
    assert again.returncode == 0, again.stderr
    assert len(emu.submissions) == 6  # the two running ones resumed, only the four others were sent
    assert "resumed 2" in again.stdout and "done 4" in again.stdout


@pytest.mark.long
def test_a_submit_on_the_wire_is_waited_for_and_its_task_id_recorded(emu, env, journal, tmp_path):
    emu.processing_time = 40
    emu.inject("submit", "late", seconds=1.5)  # created at once, answered 1.5 s later
    images(tmp_path, 1)
    child = Child(["run", "remove_fabric", "in0.png", "-o", "out"], env, tmp_path)
    until(lambda: len(emu.submissions) == 1)  # the task exists; its answer is still on the way
    child.interrupt()
    assert child.wait() == 130
    task_id = emu.submissions[0]["task_id"]
    assert emu.task(task_id)["status"] != "Completed"
    assert "on their way" in child.text and f"task {task_id} recorded" in child.text
    rows = journal.recent(10)
    assert [(r.status, r.task_id) for r in rows] == [(PENDING, task_id)]

    finish_now(emu, task_id)
    again = run_hdredraw(["run", "remove_fabric", "in0.png", "-o", "out"], env=env, cwd=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert len(emu.submissions) == 1 and "resumed 1" in again.stdout


def test_a_second_ctrl_c_quits_at_once_and_the_attempt_stays_uncertain(emu, env, journal, tmp_path):
    emu.processing_time = 40
    emu.inject("submit", "late", seconds=20)
    images(tmp_path, 1)
    child = Child(["run", "remove_fabric", "in0.png", "-o", "out"], env, tmp_path)
    until(lambda: len(emu.submissions) == 1)
    child.interrupt()
    until(lambda: "on their way" in child.text)
    child.interrupt()
    assert child.wait() == 130
    assert [r.status for r in journal.recent(10)] == [UNCERTAIN]  # ended before the answer came
    assert "Traceback" not in child.text

    again = run_hdredraw(["run", "remove_fabric", "in0.png", "-o", "out"], env=env, cwd=tmp_path, timeout=60)
    assert again.returncode == 1
    assert len(emu.submissions) == 1  # never re-sent on its own: it may have been charged
    assert "uncertain 1" in again.stdout and "variation" in again.stdout
