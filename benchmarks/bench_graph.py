"""Several pack nodes in one prompt, in a real ComfyUI: do their waits overlap?  And how fast is Cancel?

For each ComfyUI install found (setup.sh's exports: COMFYUI_DIR/COMFY_PYTHON for 0.3.64,
COMFYUI_DIR_NEW/COMFY_PYTHON_NEW for 0.8.0), with the emulator in its own process taking 6 s per task:
one prompt with one pack node, then one prompt with four independent pack nodes on one image (Face
Enhance, Remove Fabric, Remove Rhinestones, Remove Watermark).  Then Cancel while four nodes wait: the time
from POST /interrupt until the prompt is finished in /history.
Run: . /tmp/comfy.env && python benchmarks/bench_graph.py [--processing-time 6]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _common import ROOT, EmulatorProcess, machine, table

sys.path.insert(0, str(ROOT / "tests"))
from real_comfyui import TEST_IMAGE, ComfyServer, find_installs  # noqa: E402

NODES = ("HDRedraw_FaceEnhance", "HDRedraw_RemoveFabric", "HDRedraw_RemoveDiamonds", "HDRedraw_RemoveWatermark")


def graph(node_types: tuple[str, ...], variation: int) -> dict:
    g: dict = {"1": {"class_type": "LoadImage", "inputs": {"image": TEST_IMAGE}}}
    for i, t in enumerate(node_types):
        g[str(10 + i)] = {"class_type": t, "inputs": {"image": ["1", 0], "variation": variation}}
        g[str(20 + i)] = {"class_type": "PreviewImage", "inputs": {"images": [str(10 + i), 0]}}
    return g


def timed(server: ComfyServer, g: dict) -> float:
    t0 = time.perf_counter()
    entry = server.wait(server.post_prompt(g), timeout=300)
    if entry["status"]["status_str"] != "success":
        raise SystemExit(f"prompt failed: {entry['status']}")
    return time.perf_counter() - t0


def cancel_latency(server: ComfyServer, emu: EmulatorProcess, variation: int) -> float:
    before = len(emu.call("state")["submissions"])
    prompt_id = server.post_prompt(graph(NODES, variation))
    while len(emu.call("state")["submissions"]) < before + 4:
        time.sleep(0.05)
    time.sleep(1.0)  # all four are waiting on the service now
    t0 = time.perf_counter()
    server.interrupt()
    server.wait(prompt_id, timeout=60)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--processing-time", type=float, default=6.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    installs, problems = find_installs()
    if not installs:
        raise SystemExit("no ComfyUI install found: " + "; ".join(problems))
    emu = EmulatorProcess(args.processing_time)
    emu.call("config", {"status_cache": 3.0})
    rows = []
    try:
        for install in installs:
            server = ComfyServer(install, emu.base_url, emu.base_url,
                                 {"HDREDRAW_USER_KEY": "emulator-key", "HIDREAM_API_TOKEN": "emulator-token"})
            server.start()
            try:
                seed = time.time_ns() % 10**8
                one = [timed(server, graph(NODES[:1], seed + r)) for r in range(args.repeat)]
                four = [timed(server, graph(NODES, seed + 100 + r)) for r in range(args.repeat)]
                emu.call("config", {"processing_time": 60.0})
                cancels = [cancel_latency(server, emu, seed + 200 + r) for r in range(args.repeat)]
                emu.call("config", {"processing_time": args.processing_time})
            finally:
                server.stop()
            m1, m4 = statistics.median(one), statistics.median(four)
            rows.append([install.label, f"{m1:.1f}", f"{m4:.1f}", f"{m4 / m1:.2f}×",
                         f"{statistics.median(cancels):.2f} (max {max(cancels):.2f})"])
            print(f"{install.label} done", file=sys.stderr)
    finally:
        emu.stop()
    print(f"One prompt, pack nodes on one image, service {args.processing_time:g} s per task, 3 s status cache, "
          f"median of {args.repeat} ({machine()})\n")
    print(table(["ComfyUI", "1 node s", "4 nodes s", "4 / 1 (target ≤ 1.3×)", "Cancel with 4 waiting, s"], rows))


if __name__ == "__main__":
    main()
