"""Use this checkout as the package `hdredraw` without installing it.

`python tools/dev.py ARGS...` runs the `hdredraw` command from the checkout (tests and benchmarks start
it this way in fresh processes); `register()` makes `import hdredraw` mean this checkout, whatever the
folder is called.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


if __name__ == "__main__":
    register()
    from hdredraw.engine.cli import main

    sys.exit(main(sys.argv[1:]))
