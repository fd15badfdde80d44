"""Small helpers shared by the test files (conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any


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
