"""Run the `hdredraw` command as the tests do: in a fresh process of its own, with its own environment,
folder, stdout, stderr and exit code.

Why not plain `subprocess.run` every time: each fresh Python spends ~0.6 s of CPU importing numpy, Pillow,
requests and the pack before it does anything, and the command-line tests start about ninety of them.  On
Linux a small server process imports all that once and forks a child per command; the child takes the
command's environment, folder and output files, then runs `hdredraw.engine.cli.main` and exits with its code.
Elsewhere (Windows has no fork; macOS system frameworks are not safe to use after one), or with
HDREDRAW_TEST_NO_FORK=1, each command is a plain subprocess.
"""

from __future__ import annotations

import atexit
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
QUICK_WAITS = "HDREDRAW_DEV_QUICK_WAITS"  # tools/dev.py's switch, read again in each command's own environment

_SERVER = r"""
import io, json, os, runpy, sys
os.environ["OPENBLAS_NUM_THREADS"] = "1"  # no BLAS threads in a process that forks
dev = runpy.run_path(sys.argv[1] + "/tools/dev.py")
dev["register"]()
import numpy, PIL.Image, requests  # noqa: E401,F401 - what every command imports anyway
from hdredraw.engine import cli, cli_run, jobs, journal, console  # noqa: F401 - started without quick waits
answers = os.fdopen(os.dup(1), "w")
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
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
            code = cli.main(job["argv"])
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
    answers.write(json.dumps({"pid": pid}) + "\n")
    answers.flush()
    _, status = os.waitpid(pid, 0)
    answers.write(json.dumps({"code": os.waitstatus_to_exitcode(status)}) + "\n")
    answers.flush()
"""


class _ForkServer:
    def __init__(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != QUICK_WAITS}  # the real waits; each command may opt in
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER, str(ROOT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**env, "PYTHONHASHSEED": "0"})
        self.lock = threading.Lock()
        atexit.register(self.close)

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float
            ) -> subprocess.CompletedProcess:
        with self.lock, tempfile.TemporaryDirectory() as tmp:
            out, err = Path(tmp) / "out", Path(tmp) / "err"
            job = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "out": str(out), "err": str(err)}
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            pid = json.loads(self.proc.stdout.readline())["pid"]
            timer = threading.Timer(timeout, lambda: _kill(pid))
            timer.start()
            try:
                line = self.proc.stdout.readline()
            finally:
                timer.cancel()
            if not line:
                raise RuntimeError("the command server stopped")
            code = json.loads(line)["code"]
            return subprocess.CompletedProcess([*DEV, *argv], code, out.read_text("utf-8", "replace"),
                                               err.read_text("utf-8", "replace"))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except OSError:
        pass


_server: _ForkServer | None = None


def run_hdredraw(args: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 timeout: float = 120) -> subprocess.CompletedProcess:
    """`hdredraw ARGS` in a fresh process (os.environ plus `env`, in `cwd`); stdout and stderr as text."""
    global _server
    full_env = {**os.environ, **(env or {})}
    folder = Path(cwd or os.getcwd())
    if not sys.platform.startswith("linux") or os.environ.get("HDREDRAW_TEST_NO_FORK"):
        return subprocess.run([*DEV, *args], cwd=folder, capture_output=True, text=True, env=full_env,
                              timeout=timeout)
    if _server is None or _server.proc.poll() is not None:
        _server = _ForkServer()
    return _server.run(args, full_env, folder, timeout)
