"""Peak memory: a batch of 8 images at 2048² through the node, vs. the size of its input + output tensors.

Runs the node in a fresh process (the emulator in another) and reads the peak RSS.
Run: python benchmarks/bench_memory.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from _common import ROOT, EmulatorProcess, machine

PROBE = r"""
import json, os, resource, sys, tempfile
sys.path.insert(0, sys.argv[1] + "/benchmarks")
from _common import load_pack, quiet_comfy, photo
from pathlib import Path
load_pack(); quiet_comfy(Path(tempfile.mkdtemp()))
import numpy as np, torch
from hdredraw import nodes
node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]()
images = torch.from_numpy(np.stack([photo(2048, seed=i) for i in range(8)]))
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
baseline = rss()  # interpreter, torch, and the input batch
peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = asyncio.run(node.execute(image=images))[0]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"baseline": baseline, "peak": peak, "peak_before": peak_before,
                  "input": images.numel() * 4, "output": out.numel() * 4}))
"""


def main() -> None:
    emu = EmulatorProcess(1.0)
    env = {**os.environ, **emu.env(), "HDREDRAW_DATA_DIR": tempfile.mkdtemp(prefix="hdredraw-bench-"),
           "HDREDRAW_CONCURRENCY": "4"}
    try:
        out = subprocess.run([sys.executable, "-c", PROBE, str(ROOT)], capture_output=True, text=True, env=env,
                             check=True)
    finally:
        emu.stop()
    m = json.loads(out.stdout.strip().splitlines()[-1])
    tensors = m["input"] + m["output"]
    print(f"Memory, batch of 8 at 2048² through HDRedraw_FaceEnhance ({machine()})\n")
    print(f"input + output tensors: {tensors / 1e6:.0f} MB")
    print(f"process RSS before the run (interpreter, torch, input): {m['baseline'] / 1e6:.0f} MB; peak RSS "
          f"{m['peak'] / 1e6:.0f} MB")
    print(f"peak RSS above the interpreter + torch baseline: "
          f"{(m['peak'] - m['baseline'] + m['input']) / 1e6:.0f} MB = "
          f"{(m['peak'] - m['baseline'] + m['input']) / tensors:.2f}× input + output (target ≤ 2.5×)")


if __name__ == "__main__":
    main()
