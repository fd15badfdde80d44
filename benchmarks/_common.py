"""Shared setup for the benchmarks: import the checkout as `hdredraw`, a stub ComfyUI, sample images."""

from __future__ import annotations

import os
import platform
import runpy
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def load_pack() -> None:
    runpy.run_path(str(ROOT / "tools" / "dev.py"))["register"](ROOT)


def quiet_comfy(output_dir: Path) -> None:
    """Minimal stand-ins so node classes run outside ComfyUI (no UI, no interrupt)."""
    class Bar:
        def __init__(self, total, node_id=None):
            pass

        def update_absolute(self, *a, **k):
            pass

    utils = types.SimpleNamespace(ProgressBar=Bar)
    mm = types.SimpleNamespace(processing_interrupted=lambda: False, throw_exception_if_processing_interrupted=lambda: None)
    sys.modules.update({"comfy": types.SimpleNamespace(utils=utils, model_management=mm), "comfy.utils": utils,
                        "comfy.model_management": mm,
                        "folder_paths": types.SimpleNamespace(get_output_directory=lambda: str(output_dir),
                                                              get_user_directory=lambda: str(output_dir))})


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def photo(size: int, seed: int = 0):
    """A photo-like test image (smooth shapes, texture, mild sensor noise) as float32 H×W×3."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    img = np.stack([0.5 + 0.4 * np.sin(6 * x + 2 * y), 0.5 + 0.4 * np.cos(5 * y - 3 * x), 0.4 + 0.3 * x * y], -1)
    for _ in range(24):
        cx, cy, r = rng.random(3)
        disk = ((x - cx) ** 2 + (y - cy) ** 2) < (0.05 + 0.15 * r) ** 2
        img[disk] = img[disk] * 0.4 + rng.random(3) * 0.6
    img += 0.03 * np.sin(200 * x)[..., None] * np.sin(180 * y)[..., None]
    img += rng.normal(0, 0.012, img.shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)


def table(headers: list[str], rows: list[list]) -> str:
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


class EmulatorProcess:
    """The built-in emulator in its own process, so its image work doesn't share our GIL or memory."""

    def __init__(self, processing_time: float, port: int = 0):
        import json
        import socket
        import subprocess
        import time
        import urllib.request

        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "dev.py"), "emulator", "--port", str(port),
                                      "--processing-time", str(processing_time)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base_url + "/__emulator__", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        self._json = json
        self._urlopen = urllib.request

    def call(self, action: str, body: dict | None = None) -> dict:
        req = self._urlopen.Request(self.base_url + "/__emulator__/" + action,
                                    data=None if body is None else self._json.dumps(body).encode(),
                                    method="GET" if body is None else "POST",
                                    headers={"Content-Type": "application/json"})
        return self._json.loads(self._urlopen.urlopen(req, timeout=10).read())

    def env(self) -> dict[str, str]:
        return {"HDREDRAW_BASE_URL": self.base_url, "HDREDRAW_USER_KEY": "emulator-key",
                "HIDREAM_BASE_URL": self.base_url, "HIDREAM_API_TOKEN": "emulator-token"}

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def reference_task(base: str, endpoint: str, name: str, data: bytes) -> dict:
    """One task the way the API docs' sample client runs it: submit, then ask every second until Completed;
    the final status answer (the benchmarks' sequential reference)."""
    import time

    import requests

    r = requests.post(f"{base}{endpoint}", data={"user_key": "emulator-key"},
                      files={"input_image": (name, data, "image/png")}, timeout=60).json()
    while True:
        s = requests.post(f"{base}/api/check_task_status", data={"user_key": "emulator-key", "task_id": r["task_id"]},
                          timeout=60).json()
        if s["status"] == "Completed":
            return s
        time.sleep(1)
