"""SVG made safe to render, and rendered to pixels.

Vector results feed local nodes as images, so SVG from a service (or a user) is rendered here.  Before
rendering, anything that could fetch or run something is removed: scripts, event handlers, foreignObject,
and every reference that is not a local fragment or an inline data: image.  The renderer (resvg) has no
network access of its own and is pointed at an empty resource folder.
"""

from __future__ import annotations

import io
import re
import tempfile
import xml.etree.ElementTree as ET

import numpy as np

from .errors import ResultError, ValidationError

SVG_NS = "http://www.w3.org/2000/svg"
XLINK = "{http://www.w3.org/1999/xlink}href"
MAX_RENDER_PIXELS = 64_000_000
_UNSAFE_TAGS = {"script", "foreignObject", "iframe", "object", "embed", "audio", "video", "handler", "listener"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _safe_ref(value: str) -> bool:
    v = value.strip().lower()
    return v.startswith("#") or v.startswith("data:image/")


def sanitize(svg: str | bytes) -> str:
    """The markup without scripts, handlers or external references (raises ValidationError if not SVG)."""
    text = svg.decode("utf-8", "replace") if isinstance(svg, (bytes, bytearray)) else str(svg)
    if "<!ENTITY" in text or "<!DOCTYPE" in text:
        text = re.sub(r"<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", "", text, flags=re.S)  # no entities, no DTDs
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValidationError(f"This is not valid SVG markup ({exc}).", f"不是有效的 SVG({exc})。") from None
    if _local(root.tag) != "svg":
        raise ValidationError("The markup is not an <svg> document.", "内容不是 <svg> 文档。")
    for parent in list(root.iter()):
        for child in list(parent):
            if _local(child.tag) in _UNSAFE_TAGS:
                parent.remove(child)
    for el in root.iter():
        for name in list(el.attrib):
            local = _local(name)
            value = el.attrib[name]
            if local.lower().startswith("on"):
                del el.attrib[name]
            elif local == "href" and not _safe_ref(value):
                del el.attrib[name]
            elif "url(" in value and re.search(r"url\(\s*['\"]?(?!#)", value):
                el.attrib[name] = re.sub(r"url\(\s*['\"]?(?!#)[^)]*\)", "none", value)
        if _local(el.tag) == "style" and el.text:
            el.text = re.sub(r"@import[^;]*;?", "", el.text)
            el.text = re.sub(r"url\(\s*['\"]?(?!#)[^)]*\)", "none", el.text)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    return ET.tostring(root, encoding="unicode")


def render(svg: str | bytes, width: int = 0, height: int = 0, background: str | None = None) -> np.ndarray:
    """Render to an H×W×4 uint8 array.  0 for a side keeps the SVG's size or its aspect ratio."""
    try:
        import resvg_py
    except ImportError:
        raise ResultError("SVG rendering needs the resvg-py package: pip install resvg-py.",
                          "渲染 SVG 需要 resvg-py:pip install resvg-py。") from None
    from PIL import Image

    markup = sanitize(svg)
    kwargs: dict = {"svg_string": markup, "skip_system_fonts": False}
    if width > 0:
        kwargs["width"] = int(width)
    if height > 0:
        kwargs["height"] = int(height)
    if width * max(height, 1) > MAX_RENDER_PIXELS or height * max(width, 1) > MAX_RENDER_PIXELS:
        raise ValidationError("The requested render size is too large.", "请求的渲染尺寸过大。")
    if background:
        kwargs["background"] = background
    with tempfile.TemporaryDirectory(prefix="hdredraw-svg-") as empty:
        kwargs["resources_dir"] = empty
        try:
            png = resvg_py.svg_to_bytes(**kwargs)
        except (ValueError, RuntimeError) as exc:
            raise ResultError(f"The SVG could not be rendered ({exc}).", f"SVG 无法渲染({exc})。") from None
    with Image.open(io.BytesIO(bytes(png))) as im:
        return np.asarray(im.convert("RGBA"))
