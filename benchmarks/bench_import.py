"""Import time of the pack as ComfyUI loads it (torch already imported, as it is inside ComfyUI).

Each sample is a fresh process.  Run: python benchmarks/bench_import.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

from _common import ROOT, machine

PROBE = """
import importlib.util, sys, time
import torch, numpy, PIL.Image  # ComfyUI has these loaded before it imports custom nodes
path = sys.argv[1]
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("custom_nodes_pack", path + "/__init__.py",
                                              submodule_search_locations=[path])
module = importlib.util.module_from_spec(spec)
sys.modules["custom_nodes_pack"] = module
spec.loader.exec_module(module)
assert len(module.NODE_CLASS_MAPPINGS) == 13
print(time.perf_counter() - t0)
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    samples = [float(subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True,
                                    check=True).stdout.strip()) * 1000 for _ in range(args.runs)]
    print(f"Pack import time ({machine()}), {args.runs} fresh processes: median {statistics.median(samples):.0f} ms, "
          f"min {min(samples):.0f} ms, max {max(samples):.0f} ms (target ≤ 100 ms)")


if __name__ == "__main__":
    main()
