"""Small helpers shared by the test files (conftest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any


def settle(value: Any) -> Any:
    """A node function's result: network nodes are coroutines (ComfyUI awaits them), local ones are not."""
    return asyncio.run(value) if inspect.iscoroutine(value) else value
