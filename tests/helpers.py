"""Small helpers shared by the test files (conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import inspect
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def settle(value: Any) -> Any:
    """A node function's result: network nodes are coroutines (ComfyUI awaits them), local ones are not."""
    return asyncio.run(value) if inspect.iscoroutine(value) else value


def wait_for(predicate: Any, what: str, limit: float = 20.0) -> None:
    """Poll for something that happens on another thread or process (bounded; never asserts on time)."""
    import time

    end = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def finishes(fn: Any, what: str, limit: float = 60.0) -> Any:
    """Run `fn` on a thread and return what it returns (or raise what it raised).

    For tests that prove something ends early: the test arranges for the slow path to take far longer than
    `limit` (a 600 s wait, a hang with no timeout), so only the behaviour under test can finish in time.  The
    limit is a guard against hanging the suite, never a measure of speed.
    """
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    if thread.is_alive():
        raise AssertionError(f"{what} did not end: it waited for the slow path instead")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def copy_pack(dest: Path) -> Path:
    """A copy of the pack as a user installs it: none of the checkout's dot folders (.git, caches, and the
    1.7 GB virtualenv a CI checkout holds in .ci-venv), tests, benchmarks or build output."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".*", "__pycache__", "tests", "benchmarks", "build",
                                                              "*.egg-info", "ci-artifacts"))
    return dest
