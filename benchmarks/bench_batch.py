"""Batch throughput: the node on B = 1, 4, 8, 16 images of 1024² vs. the API docs' sequential client.

The emulator runs in its own process with a fixed processing time and the real 3-second status cache.
The reference client works like the docs' sample code: PNG at Pillow defaults, one task after another,
`time.sleep(1)` between status checks.  Run: python benchmarks/bench_batch.py [--processing-time 4]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from _common import EmulatorProcess, load_pack, machine, photo, quiet_comfy, reference_task, table
from PIL import Image


def reference(base: str, images: list[np.ndarray]) -> float:
    t0 = time.perf_counter()
    for arr in images:
        buf = io.BytesIO()
        Image.fromarray((arr * 255).astype(np.uint8)).save(buf, format="PNG")
        s = reference_task(base, "/api/submit_face_enhance_task", "in.png", buf.getvalue())
        np.array(Image.open(io.BytesIO(requests.get(s["images_url"], timeout=60).content))).astype(np.float32)
    return time.perf_counter() - t0


def node_run(images, concurrency: int | None, seed: int) -> float:
    import torch

    from hdredraw import nodes
    from hdredraw.nodes import runner

    if concurrency is None:
        os.environ.pop("HDREDRAW_CONCURRENCY", None)  # the default settings
    else:
        os.environ["HDREDRAW_CONCURRENCY"] = str(concurrency)
    os.environ["HDREDRAW_DATA_DIR"] = tempfile.mkdtemp(prefix="hdredraw-bench-")  # nothing to reuse
    runner._client = None
    batch = torch.from_numpy(np.stack(images))
    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]()
    t0 = time.perf_counter()
    asyncio.run(node.execute(image=batch, variation=seed))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processing-time", type=float, default=4.0)
    ap.add_argument("--sizes", default="1,4,8,16")
    args = ap.parse_args()
    emu = EmulatorProcess(args.processing_time)
    os.environ.update(emu.env())
    load_pack()
    quiet_comfy(Path(tempfile.mkdtemp()))
    rows = []
    try:
        base_time = {}
        for b in [int(x) for x in args.sizes.split(",")]:
            images = [photo(1024, seed=b * 100 + i) for i in range(b)]
            ref = reference(emu.base_url, images)
            default = node_run(images, None, seed=b)
            wide = node_run(images, max(b, 1), seed=1000 + b)
            base_time.setdefault("default", default)
            base_time.setdefault("wide", wide)
            rows.append([b, f"{ref:.1f}", f"{default:.1f}", f"{default / base_time['default']:.2f}×",
                         f"{wide:.1f}", f"{wide / base_time['wide']:.2f}×", f"{ref / wide:.1f}×"])
            print(f"B={b} done", file=sys.stderr)
    finally:
        emu.stop()
    print(f"Batch throughput, 1024² images, emulator processing time {args.processing_time:g} s, 3 s status "
          f"cache ({machine()})\n")
    print(table(["B", "reference s", "node s (default settings)", "vs B=1", "node s (concurrency B)", "vs B=1",
                 "speed-up vs reference"], rows))


if __name__ == "__main__":
    main()
