"""Turning downloaded results into node outputs: IMAGE/MASK tensors, EPS files, SVG objects."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..engine import codecs, errors, svg, svgrender
from . import comfy_hooks as hooks
from . import tensors
from .output_kinds import SVG

if TYPE_CHECKING:  # RenderSVG uses this module without the HTTP stack
    from ..engine.jobs import TaskResult


def stack(blobs: list[bytes]) -> tuple[torch.Tensor, torch.Tensor, bool]:
    return tensors.arrays_to_image([codecs.decode_image(b) for b in blobs])


def save_eps(result: TaskResult) -> str:
    """Save the EPS under ComfyUI's output folder (subfolder hdredraw/) with a unique name."""
    assert result.vector is not None
    folder = hooks.output_dir() / "hdredraw"
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(result.vector).hexdigest()[:8]
    path = folder / f"{result.op_id}_{result.task_id}_{digest}.eps"
    if not path.exists():
        tmp = path.with_suffix(".eps.part")
        tmp.write_bytes(result.vector)
        tmp.replace(path)
    return str(path)


def render_eps(data: bytes) -> np.ndarray | None:
    """A local raster of an EPS when Ghostscript is installed; None otherwise."""
    gs = shutil.which("gs") or shutil.which("gswin64c")
    if gs is None:
        return None
    with tempfile.TemporaryDirectory(prefix="hdredraw-eps-") as tmp:
        src, dst = Path(tmp) / "in.eps", Path(tmp) / "out.png"
        src.write_bytes(data)
        cmd = [gs, "-dSAFER", "-dBATCH", "-dNOPAUSE", "-dEPSCrop", "-sDEVICE=png16m", "-r150",
               f"-sOutputFile={dst}", str(src)]
        try:
            subprocess.run(cmd, capture_output=True, timeout=60, check=True)
            return codecs.decode_image(dst.read_bytes())
        except (subprocess.SubprocessError, OSError, ValueError):
            return None


def placeholder(size: int = 256) -> np.ndarray:
    """A visible checkerboard, used only together with a message saying why there is no preview."""
    y, x = np.mgrid[0:size, 0:size]
    board = (((x // 16) + (y // 16)) % 2).astype(np.float32) * 0.25 + 0.5
    return np.repeat(board[..., None], 3, axis=2)


def safe_svgs(results: list[TaskResult]) -> list[list[bytes]]:
    """Each result's SVG documents through `svg.sanitize_document`: whatever the service sent, what the nodes
    output, save or render carries no script, handler or external reference.  A refused document names its
    task, so the paid result can still be found."""
    out = []
    for r in results:
        docs = []
        for data in r.svgs:
            try:
                docs.append(svg.sanitize_document(data))
            except errors.HDRedrawError as exc:
                raise errors.ResultError(exc.en, exc.zh, task_id=r.task_id) from None
        out.append(docs)
    return out


def svg_object(documents: list[bytes]) -> SVG:
    return SVG([io.BytesIO(d) for d in documents])


def render_one(data: bytes, width: int = 0, height: int = 0, background: str | None = None, *,
               fit: bool = False) -> np.ndarray:
    """`svgrender.render` with ComfyUI's Cancel: pressing it stops the renderer, and the run ends as interrupted."""
    try:
        return svgrender.render(data, width, height, background, fit=fit, cancel=hooks.interrupted)
    except errors.HDRedrawError:
        if hooks.interrupted():
            hooks.raise_if_interrupted()
            raise hooks.interrupt_exception() from None
        raise


def render_svgs(documents: list[bytes], sizes: list[tuple[int, int]] | None = None) -> list[np.ndarray]:
    """Previews: each document at its requested size (0 = keep the aspect ratio / the SVG's own size), scaled
    down to fit the render cap rather than failing."""
    out = []
    for i, doc in enumerate(documents):
        w, h = sizes[i] if sizes and i < len(sizes) else (0, 0)
        out.append(render_one(doc, w, h, fit=True))
    return out
