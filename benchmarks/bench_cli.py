"""A catalogue through the command line: N small images in a folder, the service taking 2 s per task.

The emulator runs in its own process with the real 3-second status cache.  Three things are timed:

* the reference: the API docs' sample client (one task after another: submit, `time.sleep(1)` between
  status checks, download), measured on the first `--reference` images and scaled to N (it is sequential,
  so its time is linear in N; timing all 200 would take over ten minutes and teach nothing more);
* `hdredraw run seamless FOLDER -o OUT` in a fresh process, with a fresh journal;
* the same command again, which must submit nothing (every result reused).

Run: python benchmarks/bench_cli.py [--images 200] [--processing-time 2] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import requests
from _common import ROOT, EmulatorProcess, machine, photo, reference_task, table
from PIL import Image


def reference(base: str, files: list[Path]) -> float:
    """The API docs' sample client, one image after another."""
    t0 = time.perf_counter()
    for path in files:
        s = reference_task(base, "/api/submit_seamless_task", path.name, path.read_bytes())
        for key in ("images_url", "grid_url", "images_url_1m"):
            out = Image.open(io.BytesIO(requests.get(s[key], timeout=60).content))
            out.save(path.with_suffix(f".{key}.ref.png"))
    return time.perf_counter() - t0


def cli_run(env: dict[str, str], folder: Path, out: Path, n: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "dev.py"), "run", "seamless", str(folder), "-o",
                           str(out), "--max-new-tasks", str(n), "--plain"], env=env, capture_output=True, text=True,
                          timeout=3600)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"hdredraw run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return took, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=256, help="pixels per side of each image (default 256)")
    ap.add_argument("--processing-time", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=8, help="HDREDRAW_CONCURRENCY for the CLI (default 8)")
    ap.add_argument("--reference", type=int, default=20, help="images the sequential reference is timed on")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hdredraw-bench-cli-"))
    folder = work / "catalogue"
    folder.mkdir()
    for i in range(args.images):
        Image.fromarray((photo(args.size, seed=i) * 255).astype(np.uint8)).save(folder / f"garment_{i:03d}.png")
    emu = EmulatorProcess(args.processing_time)
    emu.call("accounts", {"key": "emulator-key", "remaining_count": args.images * 3, "remaining_money": 0})
    env = {**os.environ, **emu.env(), "HDREDRAW_DATA_DIR": str(work / "journal"),
           "HDREDRAW_CONFIG": str(work / "config.json"), "HDREDRAW_CONCURRENCY": str(args.concurrency)}
    try:
        ref_files = [work / "ref" / f"garment_{i:03d}.png" for i in range(min(args.reference, args.images))]
        (work / "ref").mkdir()
        for i, p in enumerate(ref_files):
            p.write_bytes((folder / f"garment_{i:03d}.png").read_bytes())
        ref = reference(emu.base_url, ref_files) * args.images / len(ref_files)
        before = len(emu.call("state")["submissions"])
        first, log = cli_run(env, folder, work / "out", args.images)
        after_first = len(emu.call("state")["submissions"])
        again, log_again = cli_run(env, folder, work / "out", args.images)
        after_again = len(emu.call("state")["submissions"])
    finally:
        emu.stop()
    outputs = len(list((work / "out").iterdir()))
    rows = [
        [f"reference: sequential sample client (timed on {len(ref_files)}, ×{args.images / len(ref_files):g})",
         args.images, f"{ref:.1f}", f"{ref / args.images:.2f}", "1.0×"],
        [f"hdredraw run seamless catalogue/ (concurrency {args.concurrency})", after_first - before,
         f"{first:.1f}", f"{first / args.images:.2f}", f"{ref / first:.1f}×"],
        ["the same command again (all reused)", after_again - after_first, f"{again:.1f}",
         f"{again / args.images:.3f}", f"{ref / again:.0f}×"],
    ]
    print(f"Catalogue through the CLI: {args.images} images of {args.size}², seamless, emulator processing time "
          f"{args.processing_time:g} s, 3 s status cache ({machine()})\n")
    print(table(["run", "tasks submitted", "wall s", "s per image", "vs reference"], rows))
    print(f"\n{outputs} files written (image, grid and 1x per input). Summary of the first run:")
    print("\n".join(line for line in log.splitlines() if not line.startswith(("+ ", "    "))))
    print("\nSummary of the second run:")
    print("\n".join(line for line in log_again.splitlines() if not line.startswith(("= ", "    "))))


if __name__ == "__main__":
    main()
