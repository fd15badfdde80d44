"""`hdredraw demo`: a real pipeline against a freshly started built-in emulator.

Garment photo → extract print pattern → remove fabric texture → seamless tile → vectorize to EPS (HD
Redraw) and SVG (HiDream).  Every step goes over HTTP through the same client the nodes use; no key and no
network are needed.  Results and a summary land in a folder the command names.

The pictures are the emulator's: cheap, deterministic stand-ins for the services' models.  They look plausible
(a seamless tile without ghosted motifs, a vector that keeps the print's colours) so a newcomer can judge the
pipeline, and the summary says plainly that they are emulated, so nobody judges the services by them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from . import codecs, config
from .console import TerminalProgress
from .jobs import Client, TaskResult
from .result_files import save_result
from .text import Text, language

EMULATED = Text(
    "Emulated results: every picture here comes from the pack's built-in emulator, a local stand-in for the two "
    "services that needs no key and costs nothing. It shows what each step does and how files flow, not the "
    "quality of the real services; their results look different.",
    "模拟结果：这里的所有图片都来自插件内置的模拟服务，它在本机代替两个真实服务，无需密钥、不产生费用。"
    "它展示每一步做什么以及文件如何流转，并不代表真实服务的效果；真实结果会有所不同。")


def sample_garment(size: int = 640, seed: int = 7) -> np.ndarray:
    """A synthetic photo of printed fabric: a floral repeat, a visible weave and uneven light."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = (0.93, 0.89, 0.80)  # cream cotton
    palette = np.array([(0.80, 0.22, 0.30), (0.18, 0.45, 0.70), (0.95, 0.70, 0.15), (0.20, 0.55, 0.35)])
    cell = size / 5
    for gy in range(6):
        for gx in range(6):
            cx = gx * cell + (cell / 2 if gy % 2 else 0) + rng.uniform(-6, 6)
            cy = gy * cell + rng.uniform(-6, 6)
            colour = palette[(gx + gy) % len(palette)]
            for k in range(5):  # five petals and a centre
                a = 2 * np.pi * k / 5
                px, py = cx + np.cos(a) * cell * 0.18, cy + np.sin(a) * cell * 0.18
                img[(x - px) ** 2 + (y - py) ** 2 < (cell * 0.13) ** 2] = colour
            img[(x - cx) ** 2 + (y - cy) ** 2 < (cell * 0.07) ** 2] = (0.98, 0.95, 0.85)
    weave = 0.06 * (np.sin(x * 1.9) * np.sin(y * 1.9))[..., None]
    light = (0.85 + 0.25 * (x + y) / (2 * size))[..., None]
    return np.clip((img + weave) * light, 0, 1)


def seam_score(image: np.ndarray) -> tuple[float, float]:
    """Mean colour jump across the wrap-around seams vs. between neighbouring columns inside."""
    a = image.astype(np.float32)
    inside = float(np.abs(np.diff(a, axis=1)).mean())
    wrap = float(np.abs(a[:, 0] - a[:, -1]).mean())
    return wrap, inside


def run_demo(out_dir: Path | None = None, processing_time: float = 1.5, status_cache: float = 3.0) -> int:
    """The whole pipeline against the built-in emulator (which takes `processing_time` per task and caches
    status answers for `status_cache` seconds, like the service)."""
    from .emulator import Emulator

    out = out_dir or Path("hdredraw-demo") / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    lang = language()
    garment = sample_garment()
    (out / "00_garment.png").write_bytes(codecs.encode_png(garment))
    steps: list[dict] = []
    started = time.monotonic()
    with Emulator(processing_time=processing_time, status_cache=status_cache) as emu:
        settings = config.Settings(hdredraw_base_url=emu.base_url, hdredraw_user_key=emu.user_key,
                                   hidream_base_url=emu.hidream_base_url, hidream_token=emu.hidream_token,
                                   job_timeout=120, connect_timeout=5, read_timeout=30)
        client = Client(settings)
        print(f"Built-in emulator at {emu.base_url} (no key or network needed)\n")

        def step(n: int, op: str, image, params: dict, note: str) -> TaskResult:
            t0 = time.monotonic()
            with TerminalProgress([f"{n}. {op}"]) as progress:
                result = client.run(op, image, params, on_progress=lambda p: progress(0, p))
            files = save_result(result, out, f"{n:02d}_{op}")
            steps.append({"step": n, "operation": op, "what": note, "params": params, "task_id": result.task_id,
                          "seconds": round(time.monotonic() - t0, 2), "files": [f.name for f in files],
                          "remaining_count": result.remaining_count, "remaining_money": result.remaining_money})
            print(f"   -> {', '.join(f.name for f in files)}")
            return result

        patterns = step(1, "extract_pattern", garment, {"aspect_ratio": "1:1"}, "print pattern from the garment")
        clean = step(2, "remove_fabric", patterns.images[0], {}, "fabric weave removed")
        tile = step(3, "seamless", clean.images[0], {"direction": 0, "fit": 0.5}, "seamless tile + grid + 1x")
        step(4, "vectorize", tile.image_1x or tile.images[0], {"color_count": 6}, "EPS vector")
        step(5, "hidream_vectorize", tile.image_1x or tile.images[0], {"mode": "fast"}, "SVG vector (HiDream)")
        submitted = len(emu.submissions)
        client.close()

    wrap, inside = seam_score(codecs.decode_image(tile.image_1x or tile.images[0])[..., :3])
    summary = {"emulated": True, "note": EMULATED.en, "note_zh": EMULATED.zh,
               "folder": str(out.resolve()), "seconds": round(time.monotonic() - started, 1),
               "tasks_submitted": submitted, "seam_jump": round(wrap, 4), "neighbour_jump": round(inside, 4),
               "steps": steps}
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    lines = ["# hdredraw demo (emulated results)", "", f"> {EMULATED.en}", ">", f"> {EMULATED.zh}", "",
             f"{len(steps)} steps, {submitted} tasks, {summary['seconds']} s against the built-in emulator.", "",
             "| step | operation | task id | seconds | files |", "|---|---|---|---|---|"]
    lines += [f"| {s['step']} | {s['operation']} | {s['task_id']} | {s['seconds']} | {', '.join(s['files'])} |"
              for s in steps]
    lines += ["", f"Seamless check: mean jump across the wrap-around seam {wrap:.4f} vs. {inside:.4f} between "
              "neighbouring columns inside the tile."]
    (out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = "Demo finished" if lang == "en" else "演示完成"
    print(f"\n{done}: {len(steps)} steps, {submitted} tasks, {summary['seconds']} s. Results and summary.md in "
          f"{out.resolve()}\n{EMULATED.get(lang)}")
    return 0
