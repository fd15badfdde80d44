"""Start the processes the tests need: the `hdredraw` command, and Python scripts that stand for other
processes or machines sharing a journal.  Each is a fresh process of its own, with its own environment,
folder, stdout, stderr and exit code.

Why not plain `subprocess` every time: each fresh Python spends ~0.6 s of CPU importing numpy, Pillow,
requests and the pack before it does anything, and the tests start over a hundred of them.  On Linux a
small server process imports all that once and forks a child per process asked for; the child takes the
environment, folder and output files, runs the command (`hdredraw.engine.cli.main`) or the script, and
exits with its code.  Several may run at once, and each can be killed like any process.  Elsewhere (Windows
has no fork; macOS system frameworks are not safe to use after one), or with HDREDRAW_TEST_NO_FORK=1, each
is a plain subprocess.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = [sys.executable, str(ROOT / "tools" / "dev.py")]
QUICK_WAITS = "HDREDRAW_DEV_QUICK_WAITS"  # tools/dev.py's switch, read again in each process's own environment

_SERVER = r"""
import atexit, io, json, os, runpy, select, signal, sys, threading
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # no BLAS threads in a process that forks
dev = runpy.run_path(sys.argv[1] + "/tools/dev.py")
dev["register"]()
import numpy, PIL.Image, requests  # noqa: E401,F401 - what every process imports anyway
from hdredraw.engine import cli, cli_run, jobs, journal, console  # noqa: F401 - started without quick waits

def run(job):
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, job["out"]), (2, job["err"])):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
    if os.environ.get(dev["QUICK_WAITS"]):
        dev["quick_waits"]()
    argv = job["argv"]
    if job["kind"] == "hdredraw":
        return cli.main(argv)
    if argv[0] == "-c":  # as `python -c CODE ARGS...`
        sys.argv = ["-c", *argv[2:]]
        exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
    else:  # as `python SCRIPT ARGS...`
        sys.argv = list(argv)
        sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
        runpy.run_path(argv[0], run_name="__main__")
    for t in threading.enumerate():  # what the interpreter does at exit
        if t is not threading.main_thread() and not t.daemon:
            t.join()
    atexit._run_exitfuncs()
    return 0

def child(job, wake):
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(wake)
        os.close(answers.fileno())
        code = run(job)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else 1)

answers = os.fdopen(os.dup(1), "w")
def say(message):
    answers.write(json.dumps(message) + "\n")
    answers.flush()

wake, woken = os.pipe()
os.set_blocking(woken, False)
signal.set_wakeup_fd(woken)
signal.signal(signal.SIGCHLD, lambda *_: None)
running, pending, reading = {}, b"", True
while reading or running:
    ready = select.select([0, wake] if reading else [wake], [], [])[0]
    if wake in ready:
        os.read(wake, 4096)
    if 0 in ready:
        data = os.read(0, 65536)
        reading = bool(data)
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            job = json.loads(line)
            pid = os.fork()
            if pid == 0:
                child(job, wake)
            running[pid] = job["id"]
            say({"id": job["id"], "pid": pid})
    while running:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        say({"id": running.pop(pid), "code": os.waitstatus_to_exitcode(status)})
"""


class Process:
    """One forked process, used like `subprocess.Popen(..., stdout=PIPE, stderr=PIPE, text=True)`."""

    def __init__(self, args: list[str], folder: Path) -> None:
        self.args = args
        self.pid = 0
        self.returncode: int | None = None
        self._out, self._err = folder / "out", folder / "err"
        self._started = threading.Event()
        self._ended = threading.Event()

    def _answer(self, message: dict) -> None:
        if "pid" in message:
            self.pid = message["pid"]
            self._started.set()
        else:
            self.returncode = message["code"]
            self._ended.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return self.returncode  # type: ignore[return-value]

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self._out.read_text("utf-8", "replace"), self._err.read_text("utf-8", "replace")

    def kill(self) -> None:
        self._started.wait(30)
        if self.returncode is None:
            try:
                os.kill(self.pid, 9)
            except OSError:
                pass


class _ForkServer:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != QUICK_WAITS}  # the real waits; each process may opt in
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(ROOT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**env, "PYTHONHASHSEED": "0"})
        self.lock = threading.Lock()
        self.ids = itertools.count()
        self.jobs: dict[int, Process] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="hdredraw-commands-")
        threading.Thread(target=self._read, name="hdredraw-commands", daemon=True).start()
        atexit.register(self.close)

    def start(self, kind: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path, shown: list[str]) -> Process:
        with self.lock:
            job_id = next(self.ids)
            folder = Path(self.tmp.name) / str(job_id)
            folder.mkdir()
            proc = self.jobs[job_id] = Process(shown, folder)
            job = {"id": job_id, "kind": kind, "argv": list(argv), "env": dict(env), "cwd": str(cwd),
                   "out": str(proc._out), "err": str(proc._err)}
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        if not proc._started.wait(60):
            raise RuntimeError("the process server did not start the process")
        return proc

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            self.jobs[message["id"]]._answer(message)
            if "code" in message:
                self.jobs.pop(message["id"], None)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)
        self.tmp.cleanup()


_server: _ForkServer | None = None


def _forking() -> bool:
    return sys.platform.startswith("linux") and not os.environ.get("HDREDRAW_TEST_NO_FORK")


def _start(kind: str, argv: Sequence[str], env: Mapping[str, str] | None, cwd: str | Path | None,
           shown: list[str]) -> Process | subprocess.Popen:
    global _server
    full_env = {**os.environ, **(env or {})}
    folder = Path(cwd or os.getcwd())
    if not _forking():
        return subprocess.Popen(shown, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=full_env)
    if _server is None or _server.proc.poll() is not None:
        _server = _ForkServer()
    return _server.start(kind, argv, full_env, folder, shown)


def start_python(args: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None
                 ) -> Process | subprocess.Popen:
    """`python ARGS` (`-c CODE ...` or `SCRIPT ...`) started in a fresh process (os.environ plus `env`, in
    `cwd`); its stdout and stderr are read with `communicate()`."""
    return _start("python", args, env, cwd, [sys.executable, *args])


def run_hdredraw(args: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
    """`hdredraw ARGS` in a fresh process (os.environ plus `env`, in `cwd`); stdout and stderr as text.  A
    command still running after `timeout` seconds is killed (exit code -9)."""
    proc = _start("hdredraw", args, env, cwd, [*DEV, *args])
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
