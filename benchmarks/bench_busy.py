"""A service that refuses above 3 running tasks: a batch of 12 vs. an oracle that knows the limit.

The emulator answers 429 (Retry-After: 1) while 3 tasks of the account are running.  The pack starts at
its default concurrency, halves on the refusals and grows back on successes; the oracle is the same
client told the exact limit (HDREDRAW_CONCURRENCY=3), so it is never refused.  Both must finish every
image with exactly 12 submissions.  Run: python benchmarks/bench_busy.py [--processing-time 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
from _common import EmulatorProcess, load_pack, machine, table


def run(concurrency: int | None, images: list[np.ndarray]) -> tuple[float, int]:
    from hdredraw.engine import config, errors, scheduler
    from hdredraw.engine.jobs import Client
    from hdredraw.engine.journal import Journal

    scheduler._limiters.clear()  # each run starts like a fresh process
    settings = config.load()
    if concurrency is not None:
        settings.concurrency = concurrency
    client = Client(settings, journal=Journal(tempfile.mkdtemp(prefix="hdredraw-bench-")))
    t0 = time.perf_counter()
    out = client.run_many("remove_fabric", images, {})
    elapsed = time.perf_counter() - t0
    failed = [o for o in out if isinstance(o, errors.HDRedrawError)]
    if failed:
        raise SystemExit(f"{len(failed)} images failed: {failed[0]}")
    client.close()
    return elapsed, len(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processing-time", type=float, default=4.0)
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--limit", type=int, default=3)
    args = ap.parse_args()
    emu = EmulatorProcess(args.processing_time)
    os.environ.update(emu.env())
    os.environ.pop("HDREDRAW_CONCURRENCY", None)
    load_pack()
    rng = np.random.default_rng(0)
    rows = []
    try:
        for label, concurrency in (("oracle (concurrency = limit)", args.limit), ("pack, default settings", None)):
            emu.call("reset", {})
            emu.call("config", {"max_concurrent": args.limit, "status_cache": 3.0})
            images = [rng.random((256, 256, 3)).astype(np.float32) for _ in range(args.images)]
            elapsed, done = run(concurrency, images)
            state = emu.call("state")
            refused = state["busy_refusals"]
            rows.append([label, f"{elapsed:.1f}", done, len(state.get("submissions", [])), refused])
            print(f"{label}: {elapsed:.1f} s", file=sys.stderr)
    finally:
        emu.stop()
    oracle, pack = float(rows[0][1]), float(rows[1][1])
    print(f"Busy service: {args.images} images, refused above {args.limit} running tasks, processing "
          f"{args.processing_time:g} s, 3 s status cache ({machine()})\n")
    print(table(["client", "wall s", "images done", "submissions", "refused submits"], rows))
    print(f"\npack / oracle: {pack / oracle:.2f}× (target ≤ 1.5×)")


if __name__ == "__main__":
    main()
