"""Writing a finished task's files to disk exactly as the service sent them (no re-encoding)."""

from __future__ import annotations

from pathlib import Path

from . import codecs
from .progress import TaskResult

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "eps": ".eps", "svg": ".svg"}


def save_result(result: TaskResult, out_dir: Path, stem: str) -> list[Path]:
    """Write every file of a result as the service sent it (no re-encoding)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, data: bytes) -> None:
        path = out_dir / (name + EXTENSIONS.get(codecs.sniff(data) or "", ".bin"))
        path.write_bytes(data)
        written.append(path)

    for i, data in enumerate(result.images):
        put(stem if i == 0 else f"{stem}_{i + 1}", data)
    if result.grid:
        put(f"{stem}_grid", result.grid)
    if result.image_1x:
        put(f"{stem}_1x", result.image_1x)
    if result.vector:
        put(f"{stem}_vector", result.vector)
    for i, data in enumerate(result.svgs):
        put(stem if i == 0 else f"{stem}_{i + 1}", data)
    if result.prompt:
        path = out_dir / f"{stem}_prompt.txt"
        path.write_text(result.prompt, encoding="utf-8")
        written.append(path)
    return written
