"""Render SVG: any SVG (the SVG type or markup) to IMAGE + MASK at any size, locally and safely."""

from __future__ import annotations

import re
from typing import Any

import torch

from ..engine import errors
from ..engine.text import Text
from . import tensors
from .factory import both
from .output_kinds import OUT


class RenderSVG:
    """Renders SVG (the SVG type or markup) to IMAGE + MASK at any size, locally and safely."""

    DESCRIPTION = both(Text(
        "Renders SVG to an image at any size, with its transparency as MASK (1 − alpha). Scripts and external "
        "references are removed first; nothing is fetched.",
        "将 SVG 渲染为任意尺寸的图像,透明度输出为 MASK(1 − alpha)。渲染前移除脚本和外部引用,不会联网。"))
    CATEGORY = "HD Redraw/Vector"
    FUNCTION = "execute"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("image", "mask")
    OUTPUT_TOOLTIPS = (both(Text("Rendered image (RGB).", "渲染后的图像(RGB)。")), both(OUT["mask"].tooltip))

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "width": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 1, "tooltip": both(Text(
                    "Output width in pixels; 0 keeps the SVG's own size (or follows height).",
                    "输出宽度(像素);0 表示使用 SVG 自身尺寸(或按高度等比)。"))}),
                "height": ("INT", {"default": 0, "min": 0, "max": 16384, "step": 1, "tooltip": both(Text(
                    "Output height in pixels; 0 keeps the aspect ratio.", "输出高度(像素);0 表示保持宽高比。"))}),
                "background": ("STRING", {"default": "", "tooltip": both(Text(
                    "Optional background colour (e.g. #ffffff); empty keeps transparency.",
                    "可选背景色(如 #ffffff);留空则保留透明。"))}),
            },
            "optional": {
                "svg": ("SVG", {"tooltip": both(Text("SVG from a vectorize node.", "来自矢量化节点的 SVG。"))}),
                "svg_text": ("STRING", {"forceInput": True, "tooltip": both(Text("SVG markup.", "SVG 源码。"))}),
            },
        }

    def execute(self, width: int = 0, height: int = 0, background: str = "", svg: Any = None,
                svg_text: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        documents: list[bytes] = []
        if svg is not None:
            for item in getattr(svg, "data", []):
                item.seek(0)
                documents.append(item.read())
        if svg_text and svg_text.strip():
            documents += [d.encode("utf-8") for d in _split_svgs(svg_text)]
        if not documents:
            raise errors.ValidationError("Connect an SVG or SVG text to render.", "请连接 SVG 或 SVG 源码以渲染。")
        from .outputs import render_one

        # Both sides 0: the SVG's own size, scaled down to the render cap if needed; a size asked for is exact
        # (the SVG's preserveAspectRatio decides the fit) and refused with a clear error when over the cap.
        arrays = [render_one(d, int(width), int(height), background.strip() or None) for d in documents]
        image, mask, _ = tensors.arrays_to_image(arrays)
        return image, mask


_SVG_TAG_RE = re.compile(r"<(/?)svg\b[^<>]*?(/?)>", re.I)  # stops at the next "<": linear


def _split_svgs(text: str) -> list[str]:
    """The top-level <svg> documents in a text (svg_text joins several), counting nesting so that an <svg>
    inside an <svg> stays in its document; linear in the text's length.  Text with no complete <svg> is
    returned whole, for the parser to explain what is wrong with it."""
    parts, depth, start = [], 0, 0
    for m in _SVG_TAG_RE.finditer(text):
        closing, self_closing = m.group(1), m.group(2)
        if closing:
            if depth == 1:
                parts.append(text[start:m.end()])
            depth = max(0, depth - 1)
        elif not self_closing:
            if depth == 0:
                start = m.start()
            depth += 1
        elif depth == 0:
            parts.append(m.group(0))
    return parts or [text]
