"""What each operation does to the image, in numpy and Pillow.

The transforms are cheap stand-ins for the real models, but each one really
does what its operation promises (an upscale is bigger, a seamless tile tiles,
a vector has few colours), so tests and manual runs can check results and not
just their presence; and each looks plausible to a newcomer trying the demo
(a seamless tile without ghosted motifs, a vector that keeps the palette).  Alpha is preserved: colour filters run on RGB only and
geometric changes are applied to all four bands.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from . import vector

MAX_PIXELS = 80_000_000
LANCZOS = Image.Resampling.LANCZOS


@dataclass
class Outputs:
    """Everything a finished task can hand back."""

    images: list[Image.Image]
    image_1x: Image.Image | None = None
    grid: Image.Image | None = None
    eps: bytes | None = None
    svg: str | None = None
    prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def decode(data: bytes) -> Image.Image:
    """Open an upload as RGB or RGBA; ValueError when it is not a usable image."""
    try:
        img = Image.open(io.BytesIO(data))
        if img.size[0] * img.size[1] > MAX_PIXELS or min(img.size) < 1:
            raise ValueError("image too large")
        img.load()
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types for broken data
        raise ValueError(f"not an image: {exc}") from None
    alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    return img.convert("RGBA" if alpha else "RGB")


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)  # speed over size: results live in memory only
    return buf.getvalue()


def on_rgb(img: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply a colour filter to the RGB bands and keep the alpha band untouched."""
    if img.mode != "RGBA":
        return fn(img)
    out = fn(img.convert("RGB")).convert("RGB")
    out.putalpha(img.getchannel("A"))
    return out


def _scale(img: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return img if size == img.size else img.resize(size, LANCZOS)


def _pad(img: Image.Image, top: float, bottom: float, left: float, right: float) -> tuple[Image.Image, tuple]:
    """Pad each side by a fraction of the original size with mirrored content."""
    w, h = img.size
    t, b, lft, r = (min(round(h * top), h), min(round(h * bottom), h),
                    min(round(w * left), w), min(round(w * right), w))
    arr = np.asarray(img)
    padded = np.pad(arr, ((t, b), (lft, r), (0, 0)), mode="symmetric")
    return Image.fromarray(padded, img.mode), (t, b, lft, r)


def _rank(arr: np.ndarray, k: int, axis: int, which: str) -> np.ndarray:
    """Median/max over a k-long window along one axis, with a min/max sorting network.

    Pillow's MedianFilter sorts every window in C but is still ~1 s per megapixel
    at size 5; the network on whole shifted arrays is ~20x faster.
    """
    p, n = k // 2, arr.shape[axis]
    pad = [(0, 0)] * arr.ndim
    pad[axis] = (p, p)
    padded = np.pad(arr, pad, mode="edge")
    vals = [np.take(padded, np.arange(i, i + n), axis=axis) for i in range(k)]
    if which == "max":
        return np.maximum.reduce(vals)
    for r in range(k):  # odd-even transposition sort: k rounds sort k values
        for i in range(r % 2, k - 1, 2):
            vals[i], vals[i + 1] = np.minimum(vals[i], vals[i + 1]), np.maximum(vals[i], vals[i + 1])
    return vals[p]


def median(img: Image.Image, k: int) -> Image.Image:
    """Separable k x k median (rows, then columns): removes specks and fine weave, keeps edges."""
    arr = np.asarray(img)
    return Image.fromarray(_rank(_rank(arr, k, 1, "median"), k, 0, "median"), img.mode)


def dilate(img: Image.Image, k: int) -> Image.Image:
    arr = np.asarray(img)
    return Image.fromarray(_rank(_rank(arr, k, 1, "max"), k, 0, "max"), img.mode)


# --------------------------------------------------------------------------- operations

def redraw(img: Image.Image, p: dict[str, Any]) -> Outputs:
    if p.get("strong_inpaint"):
        smooth = on_rgb(img, lambda i: median(i, 5))
        img = Image.blend(img, smooth, float(p.get("strong_inpaint_intensity", 0.5)))
    out = _scale(img, float(p.get("upscale", 1.0)))
    percent = 60 if p.get("high_fidelity") else 140
    out = on_rgb(out, lambda i: i.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=3)))
    result = Outputs([out])
    if p.get("vector_switch"):
        result.eps = vector.to_eps(out, int(p.get("color_count", 5)))
    if p.get("auto_generate_prompt"):
        result.prompt = describe(img, str(p.get("prompt") or ""))
    return result


def vectorize(img: Image.Image, p: dict[str, Any]) -> Outputs:
    colors = int(p.get("color_count", 5))
    return Outputs([vector.flat_preview(img, colors)], eps=vector.to_eps(img, colors))


def face_enhance(img: Image.Image, p: dict[str, Any]) -> Outputs:
    def fn(i: Image.Image) -> Image.Image:
        i = ImageOps.autocontrast(i, cutoff=1)
        i = Image.blend(i, i.filter(ImageFilter.SMOOTH_MORE), 0.5)  # skin smoothing
        return i.filter(ImageFilter.UnsharpMask(radius=1.5, percent=80, threshold=2))
    return Outputs([on_rgb(img, fn)])


def _cut_path(cost: np.ndarray) -> np.ndarray:
    """For each row of `cost` (rows x band), the column of the cheapest top-to-bottom path (steps of at most one
    column per row); column 0 is never chosen, so both sides of the cut keep at least one column."""
    acc = cost.astype(np.float64).copy()
    acc[:, 0] = np.inf
    for y in range(1, acc.shape[0]):
        prev = acc[y - 1]
        acc[y] += np.minimum(prev, np.minimum(np.r_[np.inf, prev[:-1]], np.r_[prev[1:], np.inf]))
    path = np.empty(acc.shape[0], dtype=np.int64)
    path[-1] = int(np.argmin(acc[-1]))
    for y in range(acc.shape[0] - 2, -1, -1):
        lo = max(1, path[y + 1] - 1)
        path[y] = lo + int(np.argmin(acc[y, lo:path[y + 1] + 2]))
    return path


def _periodic_resize(arr: np.ndarray, width: int, mode: str) -> np.ndarray:
    """Resize along x so the result still wraps: resample three copies side by side, keep the middle one."""
    h, w = arr.shape[:2]
    if w == width:
        return arr
    three = Image.fromarray(np.concatenate([arr] * 3, axis=1).astype(np.uint8), mode)
    out = np.asarray(three.resize((3 * width, h), LANCZOS)).astype(np.float32)
    return out[:, width:2 * width].reshape(h, width, -1)


def quilt_wrap(arr: np.ndarray, axis: int, fit: float, mode: str) -> np.ndarray:
    """Make `arr` (float, 0-255) wrap along `axis` without blending, so no motif is ever doubled or ghosted.

    The image's far edge is laid over its near edge in a band and the two are joined along the cut where they
    differ least (image quilting, Efros and Freeman 2001): left of the cut the far edge continues across the
    wrap, right of it the image continues as it was.  `fit` widens the band (more room for a good cut).  The
    tile then loses the band's width and is resampled (periodically) back to the input's size."""
    if axis == 0:
        return quilt_wrap(arr.transpose(1, 0, 2), 1, fit, mode).transpose(1, 0, 2)
    h, w = arr.shape[:2]
    band = int(np.clip(round(w * (0.08 + 0.3 * fit)), 2, w // 3)) if w >= 8 else 0
    if band < 2:
        return arr
    near, far = arr[:, :band], arr[:, w - band:]
    path = _cut_path(((near[..., :3] - far[..., :3]) ** 2).sum(axis=2))
    use_far = np.arange(band)[None, :] < path[:, None]
    joined = np.where(use_far[..., None], far, near)
    tile = np.concatenate([joined, arr[:, band:w - band]], axis=1)
    return _periodic_resize(np.clip(tile + 0.5, 0, 255), w, mode)


def even_light(arr: np.ndarray) -> np.ndarray:
    """Divide out a linear light gradient across the picture (fitted to the background's brightness).

    A photographed print is lit unevenly; left as it is, opposite edges differ in brightness and every join of
    a tile shows as a step.  The brighter half of the pixels (the ground, not the motifs) sets the fit."""
    h, w = arr.shape[:2]
    lum = arr[..., :3].mean(axis=2).ravel()
    y, x = np.mgrid[0:h, 0:w]
    design = np.c_[np.ones(h * w), x.ravel() / w, y.ravel() / h]
    ground = lum >= np.median(lum)
    coef, *_ = np.linalg.lstsq(design[ground], lum[ground], rcond=None)
    plane = (design @ coef).reshape(h, w)
    out = arr.copy()
    out[..., :3] *= (plane[ground.reshape(h, w)].mean() / np.maximum(plane, 1.0))[..., None]
    return np.clip(out, 0, 255)


def seamless(img: Image.Image, p: dict[str, Any]) -> Outputs:
    padded, _ = _pad(img, p.get("expand_top", 0.0), p.get("expand_bottom", 0.0),
                     p.get("expand_left", 0.0), p.get("expand_right", 0.0))
    arr = np.asarray(padded).astype(np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[2] >= 3:
        arr = even_light(arr)
    direction, fit = int(p.get("direction", 0)), float(p.get("fit", 0.5))
    if direction in (0, 2):
        arr = quilt_wrap(arr, 1, fit, img.mode)
    if direction in (0, 1):
        arr = quilt_wrap(arr, 0, fit, img.mode)
    tile = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8).squeeze(), img.mode)
    cols, rows = {0: (2, 2), 1: (1, 2), 2: (2, 1)}[direction]
    grid = Image.new(img.mode, (tile.width * cols, tile.height * rows))
    for r in range(rows):
        for c in range(cols):
            grid.paste(tile, (c * tile.width, r * tile.height))
    return Outputs([_scale(tile, 2.0)], image_1x=tile, grid=grid)


def remove_fabric(img: Image.Image, p: dict[str, Any]) -> Outputs:
    """A weave is fine periodic texture: a Gaussian low-pass removes it (a median cannot: on a
    checkerboard weave the majority alternates), then an unsharp mask gives shapes their edges back."""
    def fn(i: Image.Image) -> Image.Image:
        i = median(i.filter(ImageFilter.GaussianBlur(1.2)), 3)
        return i.filter(ImageFilter.UnsharpMask(radius=2, percent=120, threshold=3))
    return Outputs([on_rgb(img, fn)])


def remove_diamonds(img: Image.Image, p: dict[str, Any]) -> Outputs:
    """Small bright specks (stones, glitter) are replaced by a 7x7 median; the rest stays as it was."""
    def fn(i: Image.Image) -> Image.Image:
        med = median(i, 7)
        lum = np.asarray(i.convert("L"), dtype=np.int16) - np.asarray(med.convert("L"), dtype=np.int16)
        mask = dilate(Image.fromarray(((lum > 20) * 255).astype(np.uint8), "L"), 3)
        return Image.composite(med, i, mask)
    return Outputs([on_rgb(img, fn)])


def remove_watermark(img: Image.Image, p: dict[str, Any]) -> Outputs:
    """Inpaint-ish: median plus blur washes out thin overlaid text, blended back over the original."""
    def fn(i: Image.Image) -> Image.Image:
        smooth = median(i, 5).filter(ImageFilter.GaussianBlur(1.5))
        return Image.blend(i, smooth, 0.6)
    return Outputs([on_rgb(img, fn)])


def edit_image(img: Image.Image, p: dict[str, Any]) -> Outputs:
    prompt = str(p.get("prompt") or "").lower()
    if any(k in prompt for k in ("watercolor", "watercolour", "水彩")):
        def fn(i: Image.Image) -> Image.Image:
            return ImageOps.posterize(median(i, 3).filter(ImageFilter.SMOOTH_MORE), 3)
    elif any(k in prompt for k in ("gray", "grey", "black and white", "黑白", "灰")):
        def fn(i: Image.Image) -> Image.Image:
            return i.convert("L").convert("RGB")
    elif any(k in prompt for k in ("invert", "反色")):
        def fn(i: Image.Image) -> Image.Image:
            return ImageOps.invert(i)
    else:
        def fn(i: Image.Image) -> Image.Image:
            return ImageEnhance.Color(i).enhance(1.5)
    out = on_rgb(img, fn)
    if p.get("model_version") == "v2":
        out = on_rgb(out, lambda i: i.filter(ImageFilter.UnsharpMask(radius=2, percent=100, threshold=2)))
    return Outputs([out])


def _ratio(text: str) -> float:
    try:
        a, b = (float(x) for x in str(text).split(":"))
        return a / b if a > 0 and b > 0 else 1.0
    except ValueError:
        return 1.0


def extract_pattern(img: Image.Image, p: dict[str, Any]) -> Outputs:
    """Main result: the largest centred crop of the requested ratio; alternative: mirrored at 0.75x."""
    ratio = _ratio(p.get("aspect_ratio", "1:1"))
    w, h = img.size
    cw, ch = (w, max(1, round(w / ratio))) if w / h < ratio else (max(1, round(h * ratio)), h)
    left, top = (w - cw) // 2, (h - ch) // 2
    main = img.crop((left, top, left + cw, top + ch))
    alt = _scale(ImageOps.mirror(main), 0.75)
    return Outputs([main, alt])


def expand_image(img: Image.Image, p: dict[str, Any]) -> Outputs:
    padded, (t, _b, lft, _r) = _pad(img, p.get("expand_top", 0.0), p.get("expand_bottom", 0.0),
                                    p.get("expand_left", 0.0), p.get("expand_right", 0.0))
    if padded.size == img.size:
        return Outputs([img.copy()])
    soft = padded.filter(ImageFilter.GaussianBlur(2))  # the new areas look generated, not copied
    soft.paste(img, (lft, t))
    return Outputs([soft])


def hidream_vectorize(img: Image.Image, p: dict[str, Any]) -> Outputs:
    colors = 8 if p.get("mode") == "fast" else 16
    return Outputs([], svg=vector.to_svg(img, colors))


TRANSFORMS: dict[str, Callable[[Image.Image, dict[str, Any]], Outputs]] = {
    "redraw": redraw, "vectorize": vectorize, "face_enhance": face_enhance, "seamless": seamless,
    "remove_fabric": remove_fabric, "edit_image": edit_image, "extract_pattern": extract_pattern,
    "remove_diamonds": remove_diamonds, "expand_image": expand_image, "remove_watermark": remove_watermark,
    "hidream_vectorize": hidream_vectorize,
}


def run(op_id: str, img: Image.Image, params: dict[str, Any]) -> Outputs:
    """The result of operation `op_id` on `img` with validated `params`."""
    return TRANSFORMS[op_id](img, params)


# --------------------------------------------------------------------------- prompt

_COLOR_NAMES = {
    "black": (20, 20, 20), "white": (240, 240, 240), "gray": (128, 128, 128), "red": (200, 30, 30),
    "orange": (240, 140, 20), "yellow": (235, 220, 40), "green": (40, 160, 60), "olive": (120, 120, 40),
    "teal": (30, 140, 140), "blue": (40, 80, 200), "navy": (20, 30, 90), "purple": (130, 50, 160),
    "pink": (240, 150, 190), "brown": (120, 70, 30), "beige": (225, 205, 165), "maroon": (110, 20, 30),
}


def _color_name(rgb: tuple[int, int, int]) -> str:
    return min(_COLOR_NAMES, key=lambda n: sum((a - b) ** 2 for a, b in zip(rgb, _COLOR_NAMES[n], strict=True)))


def describe(img: Image.Image, prompt: str = "") -> str:
    """An English prompt built from what the image looks like (dominant colours, light, shape)."""
    small = img.convert("RGB").resize((48, 48), Image.Resampling.BILINEAR)
    q = small.quantize(colors=4, method=Image.Quantize.MEDIANCUT)
    pal = q.getpalette() or []
    counts = sorted(((n, i) for n, i in q.getcolors() or []), reverse=True)
    names: list[str] = []
    for _, i in counts:
        name = _color_name(tuple(pal[i * 3:i * 3 + 3]))  # type: ignore[arg-type]
        if name not in names:
            names.append(name)
    mean = float(np.asarray(small.convert("L")).mean())
    light = "bright" if mean > 170 else "dark" if mean < 85 else "balanced"
    w, h = img.size
    shape = "square" if abs(w - h) <= 0.05 * max(w, h) else "landscape" if w > h else "portrait"
    names = names[:3]
    colours = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    text = (f"a {shape} image with dominant {colours} tones, {light} lighting, "
            "high quality, detailed, sharp, professional photography")
    return f"{text}, {prompt.strip()}" if prompt.strip() else text
