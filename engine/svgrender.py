"""SVG to pixels: sized and capped before any pixel exists, drawn in a child process.

resvg allocates its canvas from the size it is asked for, and a hostile document can ask for anything
(`viewBox="0 0 1 2000000"` previewed 56 px wide is a 25 GB canvas, and resvg aborts the whole process when an
allocation fails).  So the output size is computed here, from the root's width/height/viewBox the way resvg
reads them, and capped (each side and the total) before rendering; the root is then rewritten to exactly
that size, keeping (or synthesizing) the viewBox so that resvg applies the document's own
preserveAspectRatio, as a browser does.  Some allocations cannot be predicted from outside (pattern tiles,
filter and group layers can be many times the canvas), and resvg overflows its stack on deep nesting: so the
drawing happens in a short-lived child process with a large stack, a memory limit (where the OS has one) and
a timeout.  Whatever it does, ComfyUI's process only ever sees PNG bytes or a clean bilingual error.
"""

from __future__ import annotations

import importlib.util
import io
import json
import math
import re
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable

import numpy as np

from . import svg as svgdoc
from .errors import ResultError, ValidationError

MAX_RENDER_SIDE = 16384
MAX_RENDER_PIXELS = 64_000_000
RENDER_TIMEOUT = 300.0  # bounds a runaway render; a legitimate 8000² blur takes about a minute
CHILD_MEMORY_BASE = 1536 * 1024 * 1024  # interpreter, allocator arenas, the renderer's 256 MB stack
CHILD_MEMORY_PER_CANVAS = 12  # legitimate layers, masks and filters: a few canvases at once
DEFAULT_SIZE = 100.0  # resvg's fallback for 100% without a viewBox
UNITS = {"": 1.0, "px": 1.0, "in": 96.0, "cm": 96 / 2.54, "mm": 96 / 25.4, "pt": 4 / 3, "pc": 16.0}
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"  # unambiguous: no backtracking blow-up
_LENGTH_RE = re.compile(rf"({_NUMBER})(px|in|cm|mm|pt|pc|em|ex|%)?", re.I)
_NUMBER_RE = re.compile(_NUMBER)

_CHILD = r"""
import json, sys, threading
opts = json.loads(sys.argv[1])
memory = opts.pop("memory")
try:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
except Exception:
    pass
svg = sys.stdin.buffer.read().decode("utf-8")
box = {}
def work():
    try:
        import resvg_py
        box["png"] = bytes(resvg_py.svg_to_bytes(svg_string=svg, **opts))
    except BaseException as exc:
        box["error"] = str(exc)
threading.stack_size(256 * 1024 * 1024)
worker = threading.Thread(target=work)
worker.start()
worker.join()
if "png" not in box:
    sys.stderr.write(box.get("error", "")[:300])
    sys.exit(3)
sys.stdout.buffer.write(box["png"])
"""


def _length(value: str | None, font_size: float) -> tuple[float, bool] | None:
    """(number, is_percent) in px for an SVG length; None when missing or invalid (resvg then uses 100%)."""
    text = (value or "").strip()
    m = _LENGTH_RE.fullmatch(text) if len(text) <= 64 else None
    if not m:
        return None
    number, unit = float(m.group(1)), (m.group(2) or "").lower()
    if unit == "%":
        return number, True
    scale = font_size if unit == "em" else font_size / 2 if unit == "ex" else UNITS[unit]
    return number * scale, False


def _view_box(value: str | None) -> tuple[float, float, float, float] | None:
    parts = [float(p) for p in _NUMBER_RE.findall(value or "")] if len(value or "") <= 256 else []
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts) or parts[2] <= 0 or parts[3] <= 0:
        return None
    return parts[0], parts[1], parts[2], parts[3]


def intrinsic_size(root: svgdoc.Element) -> tuple[float, float, tuple[float, float, float, float]]:
    """(width, height, viewBox) in px as resvg reads the root: absolute units at 96 dpi, em/ex from the root's
    font-size; % of the viewBox; a missing side follows the viewBox's aspect ratio.  Without a viewBox, a
    missing or % side is % of 100 px (resvg's fallback; resvg would then use the drawing's bounding box, which
    cannot be known without drawing).  The viewBox is the document's, or its size in px (no viewBox: 1 user
    unit = 1 px).  Raises ValidationError when there is no usable size."""
    font = _length(root.attrs.get("font-size"), 16.0)
    font_size = font[0] if font and not font[1] and font[0] > 0 else 16.0
    w, h = _length(root.attrs.get("width"), font_size), _length(root.attrs.get("height"), font_size)
    vb = _view_box(root.attrs.get("viewBox"))
    if vb:
        width = vb[2] * (w[0] / 100 if w else 1.0) if not w or w[1] else w[0]
        height = vb[3] * (h[0] / 100 if h else 1.0) if not h or h[1] else h[0]
        if not w and h:
            width = height * vb[2] / vb[3]
        elif w and not h:
            height = width * vb[3] / vb[2]
    else:
        width = w[0] if w and not w[1] else DEFAULT_SIZE * (w[0] / 100 if w else 1.0)
        height = h[0] if h and not h[1] else DEFAULT_SIZE * (h[0] / 100 if h else 1.0)
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0
            and math.isfinite(height / width) and height / width > 0):
        raise ValidationError("This SVG has no usable size (check its width, height and viewBox).",
                              "此 SVG 没有可用的尺寸(请检查 width、height 和 viewBox)。")
    return width, height, vb or (0.0, 0.0, width, height)


def plan_size(intrinsic: tuple[float, float], width: int = 0, height: int = 0, *, fit: bool = False
              ) -> tuple[int, int]:
    """The output size in pixels, within MAX_RENDER_SIDE per side and MAX_RENDER_PIXELS in total.

    Both sides given: exactly that.  One side: the other follows the SVG's aspect ratio.  None: the SVG's own
    size.  When the result is over the cap, `fit` (previews, and the SVG's own size) scales it down keeping the
    aspect ratio; otherwise a size someone asked for is refused with a clear error."""
    w0, h0 = intrinsic
    if width < 0 or height < 0:
        raise ValidationError("Width and height must be 0 or more.", "宽度和高度必须大于或等于 0。")
    if width and height:
        w, h = float(width), float(height)
    elif width:
        w, h = float(width), width * h0 / w0
    elif height:
        w, h = height * w0 / h0, float(height)
    else:
        w, h, fit = w0, h0, True
    w, h = min(w, 1e300), min(h, 1e300)  # finite, so the arithmetic below stays finite
    rw, rh = max(1, round(w)), max(1, round(h))
    over = max(rw, rh) > MAX_RENDER_SIDE or rw * rh > MAX_RENDER_PIXELS
    if over and not fit:
        size = f"{_count(w)}×{_count(h)}"
        raise ValidationError(
            f"Rendering this SVG at the requested size would make {size} pixels; the limit is {MAX_RENDER_SIDE} "
            f"per side and {MAX_RENDER_PIXELS:,} in total. Choose a smaller width or height.",
            f"按所请求的尺寸渲染此 SVG 将得到 {size} 像素;上限为每边 {MAX_RENDER_SIDE}、总计 "
            f"{MAX_RENDER_PIXELS:,} 像素。请减小宽度或高度。")
    if over:
        scale = min(MAX_RENDER_SIDE / w, MAX_RENDER_SIDE / h, math.sqrt(MAX_RENDER_PIXELS / w / h))
        w, h = w * scale * (1 - 1e-12), h * scale * (1 - 1e-12)  # rounding must not step over the cap
        return max(1, min(MAX_RENDER_SIDE, math.floor(w + 1e-6))), max(1, min(MAX_RENDER_SIDE, math.floor(h + 1e-6)))
    return rw, rh


def _count(v: float) -> str:
    return f"{v:.0f}" if v < 1e9 else f"{v:.3g}"


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def prepare(svg: str | bytes, width: int = 0, height: int = 0, *, fit: bool = False) -> tuple[bytes, int, int]:
    """Sanitized markup whose root is exactly the planned size (viewBox kept or synthesized), and that size."""
    root = svgdoc.parse(svg)
    w0, h0, vb = intrinsic_size(root)
    w, h = plan_size((w0, h0), width, height, fit=fit)
    root.attrs.update(width=str(w), height=str(h), viewBox=" ".join(_fmt(v) for v in vb))
    return svgdoc.serialize(root), w, h


def render(svg: str | bytes, width: int = 0, height: int = 0, background: str | None = None, *,
           fit: bool = False, cancel: Callable[[], bool] | None = None) -> np.ndarray:
    """Render to an H×W×4 uint8 array at the planned size (see `plan_size`); errors are bilingual.  `cancel`,
    when given, is polled while the renderer runs and stops it."""
    if importlib.util.find_spec("resvg_py") is None:
        raise ResultError("SVG rendering needs the resvg-py package: pip install resvg-py.",
                          "渲染 SVG 需要 resvg-py:pip install resvg-py。")
    markup, w, h = prepare(svg, width, height, fit=fit)
    opts: dict = {"dpi": 96.0, "skip_system_fonts": b"<text" not in markup,
                  "memory": CHILD_MEMORY_BASE + CHILD_MEMORY_PER_CANVAS * 4 * w * h}
    if background:
        opts["background"] = background[:64]
    png = _run_child(markup, opts, cancel)
    return _decode(png, w, h)


def _failed(reason: str) -> ResultError:
    return ResultError(f"The SVG could not be rendered ({reason}).", f"SVG 无法渲染({reason})。")


def _run_child(markup: bytes, opts: dict, cancel: Callable[[], bool] | None = None) -> bytes:
    """resvg in a child process: an abort, a stack overflow or a runaway render ends there, not in ComfyUI.
    `cancel` is polled a few times a second (ComfyUI's Cancel); the child is killed when it says so."""
    if not sys.executable:
        raise _failed("no Python executable to start the renderer with")
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    with tempfile.TemporaryDirectory(prefix="hdredraw-svg-") as empty:
        opts = {**opts, "resources_dir": empty}  # relative references resolve to an empty folder
        try:
            proc = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(opts)], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, creationflags=flags)
        except OSError as exc:
            raise _failed(f"the renderer could not start: {exc}") from None
        with proc:
            deadline, data = time.monotonic() + RENDER_TIMEOUT, markup
            while True:
                try:
                    out, err = proc.communicate(data, timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    data = None  # already being sent; communicate() resumes without losing output
                    stop = ("it was cancelled" if cancel is not None and cancel() else
                            f"it took longer than {RENDER_TIMEOUT:.0f} s" if time.monotonic() > deadline else "")
                    if stop:
                        proc.kill()
                        proc.communicate()
                        raise _failed(stop) from None
    if proc.returncode == 0 and out:
        return out
    detail = err.decode("utf-8", "replace").strip().splitlines()
    if proc.returncode == 3 and detail:
        raise _failed(detail[-1][:300])
    raise _failed(f"the renderer stopped (exit status {proc.returncode}); the drawing needs more memory or "
                  "nesting than is allowed")


def _decode(png: bytes, w: int, h: int) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png)) as im:
                if im.size != (w, h):
                    raise _failed(f"the renderer returned {im.width}×{im.height} instead of {w}×{h}")
                return np.asarray(im.convert("RGBA"))
    except ResultError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _failed(str(exc)) from None
