"""Per-image overhead: tensor → upload bytes, and result bytes → tensor, vs. the plain PIL round trip.

The reference is what most node packs do: clip/scale in numpy, `PIL.Image.save(format="PNG")` at Pillow's
default settings, and `np.array(Image.open(...)) / 255` back.  Run: python benchmarks/bench_codec.py
"""

from __future__ import annotations

import io
import statistics
import time
import tracemalloc

import numpy as np
from _common import load_pack, machine, photo, table

load_pack()
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from hdredraw.engine import codecs  # noqa: E402
from hdredraw.nodes import tensors  # noqa: E402


def ours_up(t: torch.Tensor) -> bytes:
    return codecs.encode_upload(tensors.image_to_arrays(t)[0]).data


def ours_down(data: bytes) -> torch.Tensor:
    return tensors.arrays_to_image([codecs.decode_image(data)])[0]


def ref_up(t: torch.Tensor) -> bytes:
    arr = np.clip(255.0 * t[0].cpu().numpy(), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def ref_down(data: bytes) -> torch.Tensor:
    arr = np.array(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float32) / 255.0
    return torch.from_numpy(arr)[None]


def measure(fn, arg, repeat: int) -> tuple[float, float, object]:
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(arg)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn(arg)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return statistics.median(times), peak / 1e6, out


def main() -> None:
    rows = []
    for size in (1024, 2048, 4096):
        t = torch.from_numpy(photo(size))[None]
        repeat = 5 if size < 4096 else 2
        up_s, up_mem, ours_bytes = measure(ours_up, t, repeat)
        rup_s, rup_mem, ref_bytes = measure(ref_up, t, repeat)
        down_s, down_mem, _ = measure(ours_down, ours_bytes, repeat)
        rdown_s, rdown_mem, _ = measure(ref_down, ref_bytes, repeat)
        rows.append([f"{size}²", f"{up_s * 1000:.0f}", f"{rup_s * 1000:.0f}", f"{len(ours_bytes) / 1e6:.2f}",
                     f"{len(ref_bytes) / 1e6:.2f}", f"{100 * (len(ours_bytes) / len(ref_bytes) - 1):+.1f}%",
                     f"{down_s * 1000:.0f}", f"{rdown_s * 1000:.0f}",
                     f"{(up_s + down_s) / (rup_s + rdown_s):.2f}×", f"{max(up_mem, down_mem):.0f}",
                     f"{max(rup_mem, rdown_mem):.0f}"])
    print(f"Per-image overhead ({machine()}), median of repeats; memory = tracemalloc peak of one call (MB)\n")
    print(table(["size", "up ms", "ref up ms", "MB up", "ref MB", "bytes vs ref", "down ms", "ref down ms",
                 "time vs ref", "peak MB", "ref peak MB"], rows))


if __name__ == "__main__":
    main()
