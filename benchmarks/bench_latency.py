"""Completion latency: from the moment the emulator marks a task finished to the moment the node returns.

Real 3-second status cache on; processing times vary so finishing falls anywhere in the poll rhythm.
Run: python benchmarks/bench_latency.py [--tasks 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import EmulatorProcess, load_pack, machine, photo, quiet_comfy, table


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=30)
    args = ap.parse_args()
    emu = EmulatorProcess(2.0)
    os.environ.update(emu.env())
    os.environ["HDREDRAW_DATA_DIR"] = tempfile.mkdtemp(prefix="hdredraw-bench-")
    load_pack()
    quiet_comfy(Path(tempfile.mkdtemp()))
    import torch

    from hdredraw import nodes

    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]()
    rng = random.Random(7)
    image = torch.from_numpy(photo(1024))[None]
    latencies, rows = [], []
    try:
        for i in range(args.tasks):
            seconds = round(rng.uniform(1.0, 5.0), 2)
            emu.call("config", {"processing_time": seconds})
            asyncio.run(node.execute(image=image, variation=i))
            returned = time.time()
            sub = emu.call("state")["submissions"][-1]
            latency = returned - (sub["time"] + seconds)
            latencies.append(latency)
            rows.append([i + 1, f"{seconds:.2f}", f"{latency:.2f}"])
    finally:
        emu.stop()
    print(f"Completion latency, 1024² face enhance, 3 s status cache ({machine()})\n")
    print(table(["task", "processing s", "latency s"], rows))
    print(f"\nmean {statistics.mean(latencies):.2f} s, median {statistics.median(latencies):.2f} s, "
          f"max {max(latencies):.2f} s over {len(latencies)} tasks (target: mean ≤ 2 s, max ≤ 3.5 s)")
    _ = np


if __name__ == "__main__":
    main()
