"""Vector results: a flat colour-quantized preview, EPS (HD Redraw) and SVG (HiDream).

Both vector formats draw the same thing: every colour of the quantized image as
rectangles made of merged pixel runs.  The geometry is computed on a grid of at
most `max_side` cells on the long side and scaled back to the image size, so
files stay small while still rendering the picture recognisably in any viewer.
Transparent areas are not drawn at all.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from PIL import Image

MAX_SIDE = 160
PALETTE_SAMPLE = 192  # long side of the sample the palette is chosen from
Rect = tuple[int, int, int, int]  # x, y, width, height in grid cells


def _has_alpha(img: Image.Image) -> bool:
    return img.mode == "RGBA"


def choose_palette(pixels: np.ndarray, colors: int) -> np.ndarray:
    """At most `colors` colours that keep the picture's distinct colours.

    Median cut (Pillow's default) spends its colours on the large background and averages small saturated
    motifs into one grey; a print's palette must survive.  So: the commonest colour first, then again and again
    the colour farthest from those chosen (weighted by the square root of how common it is, so a few
    anti-aliasing pixels between two colours do not win), then a few rounds of weighted k-means.  Colours are
    first binned to 5 bits per channel; everything is deterministic."""
    pixels = pixels.astype(np.float64)
    bins = (pixels // 8).astype(np.int64)
    keys = (bins[:, 0] << 10) | (bins[:, 1] << 5) | bins[:, 2]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse.reshape(-1), pixels)
    means = sums / counts[:, None]
    chosen = [int(np.argmax(counts))]
    distance = np.linalg.norm(means - means[chosen[0]], axis=1)
    weight = np.sqrt(counts)
    while len(chosen) < min(colors, len(counts)):
        best = int(np.argmax(distance * weight))
        if distance[best] <= 0:
            break
        chosen.append(best)
        distance = np.minimum(distance, np.linalg.norm(means - means[best], axis=1))
    centers = means[chosen].copy()
    for _ in range(8):
        assign = np.argmin(((means[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2), axis=1)
        for j in range(len(centers)):
            members = assign == j
            if members.any():
                centers[j] = (means[members] * counts[members, None]).sum(axis=0) / counts[members].sum()
    return np.clip(np.round(centers), 0, 255).astype(np.uint8)


def quantize(img: Image.Image, colors: int) -> tuple[Image.Image, np.ndarray, list[tuple[int, int, int]]]:
    """(palette image, opaque mask, palette) with at most `colors` colours.

    The palette is chosen from a nearest-neighbour sample of the opaque pixels only (real colours, no blends,
    nothing wasted on hidden areas; see `choose_palette`), then every pixel is mapped to it in Pillow's C code.
    """
    colors = max(2, min(256, int(colors)))
    scale = min(1.0, PALETTE_SAMPLE / max(img.size))
    sample = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                        Image.Resampling.NEAREST)
    pixels = np.asarray(sample.convert("RGB")).reshape(-1, 3)
    if _has_alpha(img):
        mask = np.asarray(img.getchannel("A")) >= 128
        opaque = np.asarray(sample.getchannel("A")).reshape(-1) >= 128
        if opaque.any():
            pixels = pixels[opaque]
    else:
        mask = np.ones((img.height, img.width), dtype=bool)
    centers = choose_palette(pixels, colors)
    palette = [tuple(int(v) for v in c) for c in centers]
    pal_img = Image.new("P", (1, 1))
    # every one of the 256 entries is a chosen colour, so nothing maps to an unused (black) entry
    pal_img.putpalette([v for i in range(256) for v in palette[i % len(palette)]])
    q = img.convert("RGB").quantize(palette=pal_img, dither=Image.Dither.NONE)
    q = q.point([i % len(palette) for i in range(256)])  # one index per colour
    q.putpalette([v for c in palette for v in c])
    return q, mask, palette  # type: ignore[return-value]


def flat_preview(img: Image.Image, colors: int) -> Image.Image:
    """The quantized image at full size (RGBA with binary alpha when the input has alpha)."""
    q, mask, _ = quantize(img, colors)
    out = q.convert("RGB")
    if _has_alpha(img):
        out.putalpha(Image.fromarray((mask * 255).astype(np.uint8), "L"))
    return out


def _grid(img: Image.Image, colors: int, max_side: int):
    """Quantize, then shrink labels and mask to the geometry grid (nearest: no new colours)."""
    q, mask, palette = quantize(img, colors)
    w, h = img.size
    scale = min(1.0, max_side / max(w, h))
    gw, gh = max(1, round(w * scale)), max(1, round(h * scale))
    labels = np.asarray(q.resize((gw, gh), Image.Resampling.NEAREST)).astype(np.int32)
    small_mask = Image.fromarray(mask.astype(np.uint8) * 255, "L").resize((gw, gh), Image.Resampling.NEAREST)
    labels = np.where(np.asarray(small_mask) >= 128, labels, -1)
    return labels, palette, (gw, gh)


def rectangles(labels: np.ndarray) -> dict[int, list[Rect]]:
    """Merge each row into runs of one colour, and identical runs of consecutive rows into one rectangle."""
    out: dict[int, list[list[int]]] = defaultdict(list)
    h, w = labels.shape
    open_runs: dict[tuple[int, int, int], list[int]] = {}
    for y in range(h):
        row = labels[y]
        cuts = np.flatnonzero(np.diff(row)) + 1
        starts = [0, *cuts.tolist()]
        ends = [*cuts.tolist(), w]
        still_open: dict[tuple[int, int, int], list[int]] = {}
        for x0, x1 in zip(starts, ends, strict=True):
            c = int(row[x0])
            if c < 0:
                continue
            key = (x0, x1, c)
            rect = open_runs.get(key)
            if rect is None:
                rect = [x0, y, x1 - x0, 0]
                out[c].append(rect)
            rect[3] += 1
            still_open[key] = rect
        open_runs = still_open
    return {c: [tuple(r) for r in rects] for c, rects in out.items()}  # type: ignore[misc]


def _num(v: float) -> str:
    return f"{v:.6f}".rstrip("0").rstrip(".")


def to_eps(img: Image.Image, colors: int, max_side: int = MAX_SIDE) -> bytes:
    """An EPS (PostScript level 2) drawing of the quantized image, 1 px = 1 pt."""
    labels, palette, (gw, gh) = _grid(img, colors, max_side)
    w, h = img.size
    lines = [
        "%!PS-Adobe-3.0 EPSF-3.0",
        f"%%BoundingBox: 0 0 {w} {h}",
        f"%%HiResBoundingBox: 0 0 {w} {h}",
        "%%Creator: ComfyUI-HDRedraw emulator",
        "%%LanguageLevel: 2",
        "%%Pages: 1",
        "%%EndComments",
        "%%BeginProlog",
        "/R { rectfill } bind def",
        "%%EndProlog",
        "%%Page: 1 1",
        "gsave",
        # Grid row 0 is the top of the image; PostScript's origin is bottom-left.
        f"0 {h} translate {_num(w / gw)} {_num(-h / gh)} scale",
    ]
    for c, rects in sorted(rectangles(labels).items()):
        r, g, b = palette[c]
        lines.append(f"{_num(r / 255)} {_num(g / 255)} {_num(b / 255)} setrgbcolor")
        lines.extend(f"{x} {y} {rw} {rh} R" for x, y, rw, rh in rects)
    lines += ["grestore", "showpage", "%%EOF", ""]
    return "\n".join(lines).encode("ascii")


def to_svg(img: Image.Image, colors: int, max_side: int = MAX_SIDE) -> str:
    """An SVG with one <path> per colour, made of merged rectangles."""
    labels, palette, (gw, gh) = _grid(img, colors, max_side)
    w, h = img.size
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
        f'<g transform="scale({_num(w / gw)} {_num(h / gh)})" shape-rendering="crispEdges">',
    ]
    for c, rects in sorted(rectangles(labels).items()):
        r, g, b = palette[c]
        d = "".join(f"M{x} {y}h{rw}v{rh}h-{rw}z" for x, y, rw, rh in rects)
        parts.append(f'<path fill="#{r:02x}{g:02x}{b:02x}" d="{d}"/>')
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts)
