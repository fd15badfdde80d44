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
