"""Use this checkout as the package `hdredraw` without installing it.

`python tools/dev.py ARGS...` runs the `hdredraw` command from the checkout (tests and benchmarks start
it this way in fresh processes); `register()` makes `import hdredraw` mean this checkout, whatever the
folder is called.

With `HDREDRAW_DEV_QUICK_WAITS=1` in the environment (the test suite sets it for every test not marked
`timing`), the registered pack does not wait: near-zero backoff, first poll at once, fast polls.  Only this
launcher reads it; the installed pack has no such switch.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICK_WAITS = "HDREDRAW_DEV_QUICK_WAITS"


def quick_waits(setattr=setattr) -> None:  # noqa: A002 - the tests pass monkeypatch.setattr
    """Tests that are not about waiting do not wait (in the test process and in the commands it starts)."""
    from hdredraw.engine import http_faults, services, steps

    setattr(http_faults, "BACKOFF_SCALE", 0.01)
    setattr(steps, "FIRST_POLL_DELAY", 0.0)
    for service in services.SERVICES.values():
        setattr(service, "poll_interval", 0.05)


def register(root: Path = ROOT) -> None:
    current = sys.modules.get("hdredraw")
    if current is not None and Path(getattr(current, "__file__", "") or "").resolve().parent == root:
        return
    for name in [m for m in sys.modules if m == "hdredraw" or m.startswith("hdredraw.")]:
        del sys.modules[name]
    spec = importlib.util.spec_from_file_location("hdredraw", root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["hdredraw"] = module
    spec.loader.exec_module(module)
    if os.environ.get(QUICK_WAITS):
        quick_waits()


if __name__ == "__main__":
    register()
    from hdredraw.engine.cli import main

    sys.exit(main(sys.argv[1:]))
