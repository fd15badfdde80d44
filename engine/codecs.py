"""Image bytes <-> numpy arrays, with the service's limits in mind.

Arrays are H×W×C with C in {1, 3, 4}: uint8, uint16, or float in 0..1.  Uploads are lossless PNG tuned
for speed; if a file would exceed the service's 16 MB limit we fall back to high-quality JPEG, then to
downscaling, and say so in `Encoded.note` (never silently).  Decoding accepts PNG, JPEG and WebP, with or
without alpha, palette and 16-bit images, and refuses decompression bombs before decoding pixels.

Files given on the command line come in through `input_files`.
"""

from __future__ import annotations

import base64
import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import ResultError, ValidationError
from .text import Text

MAX_UPLOAD_BYTES = 16 * 1024 * 1024
# Results above this many pixels are refused before decoding.  Pillow's own bomb guard stops at twice its
# MAX_IMAGE_PIXELS (about 179 MP) and we leave that global alone, so this stays just under it.
MAX_RESULT_PIXELS = 178_000_000
# zlib level 1 with the run-length strategy: on filtered photo data it compresses as well as Pillow's
# default (level 6) in about a third of the time (benchmarks/bench_codec.py).
PNG_LEVEL = 1
PNG_STRATEGY = 3  # Z_RLE
JPEG_QUALITY = 95
# Inputs above this are refused before encoding: they could never fit the 16 MB upload without heavy
# downscaling, and converting them would take gigabytes of memory.
MAX_INPUT_PIXELS = 100_000_000
# Files are also held to Pillow's own decompression-bomb threshold (about 89.5 MP): above it Pillow warns
# (or refuses), and the file could not be uploaded at full size anyway.
MAX_FILE_PIXELS = min(MAX_INPUT_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_INPUT_PIXELS)
# Formats the services take as they are; anything else is converted to lossless PNG first.
SERVICE_FORMATS = ("png", "jpeg", "webp")
PASS_MODES = ("RGB", "RGBA", "L", "LA", "P")


@dataclass
class Encoded:
    data: bytes
    mime: str
    filename: str
    width: int
    height: int
    note: Text | None = None


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Quantise to uint8: floats are cleaned (NaN→0, ±inf→1/0) and clamped to 0..1 first."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return (arr >> 8).astype(np.uint8)
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    a = np.asarray(arr, dtype=np.float32)
    if not np.isfinite(a).all():
        a = np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=0.0)
    a = np.clip(a, 0.0, 1.0)
    return (a * 255.0 + 0.5).astype(np.uint8)


def _as_pil(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValidationError(
            f"An image must be H×W×C; got an array of shape {tuple(arr.shape)}.",
            f"图像必须是 H×W×C 的数组;当前形状为 {tuple(arr.shape)}。")
    h, w, c = arr.shape
    check_input_size(w, h)
    if c not in (1, 3, 4):
        raise ValidationError(
            f"An image needs 1, 3 or 4 channels; this one has {c}.", f"图像需要 1、3 或 4 个通道;当前为 {c} 个。")
    a = np.ascontiguousarray(to_uint8(arr))
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[c]
    return Image.fromarray(a[:, :, 0] if c == 1 else a, mode)


def check_input_size(width: int, height: int) -> None:
    """Refuse empty or absurdly large inputs before any work (nothing is sent, nothing charged)."""
    if width < 1 or height < 1:
        raise ValidationError("The image is empty (0 pixels).", "图像为空(0 像素)。")
    if width * height > MAX_INPUT_PIXELS:
        mp = width * height / 1e6
        raise ValidationError(
            f"The image is {width}×{height} ({mp:.0f} MP), more than the {MAX_INPUT_PIXELS / 1e6:.0f} MP the pack "
            "uploads (the service takes files up to 16 MB). Downscale it first, e.g. with an Upscale Image node.",
            f"图像为 {width}×{height}({mp:.0f} MP),超过插件上传上限 {MAX_INPUT_PIXELS / 1e6:.0f} MP(服务只接受 16MB 以内的文件)。"
            "请先缩小图像。")


def encode_png(arr: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    buf = io.BytesIO()
    _as_pil(arr).save(buf, format="PNG", compress_level=level, compress_type=PNG_STRATEGY)
    return buf.getvalue()


def _save(im: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        im.save(buf, format="PNG", compress_level=PNG_LEVEL, compress_type=PNG_STRATEGY)
    else:
        im.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=False)
    return buf.getvalue()


def encode_upload(arr: np.ndarray, max_bytes: int = MAX_UPLOAD_BYTES, name: str = "image") -> Encoded:
    """Encode for upload: PNG; else JPEG q95 (images without alpha); else downscale until it fits."""
    im = _as_pil(arr)
    data = _save(im, "PNG")
    if len(data) <= max_bytes:
        return Encoded(data, "image/png", f"{name}.png", im.width, im.height)
    png_mb = len(data) / 1048576
    has_alpha = im.mode == "RGBA"
    fmt = "PNG" if has_alpha else "JPEG"
    if not has_alpha:
        data = _save(im, "JPEG")
        if len(data) <= max_bytes:
            return Encoded(data, "image/jpeg", f"{name}.jpg", im.width, im.height, Text(
                f"PNG was {png_mb:.1f} MB, over the 16 MB upload limit: sent as JPEG quality {JPEG_QUALITY} "
                "at full size.",
                f"PNG 为 {png_mb:.1f} MB,超过 16MB 上传限制:已改用 JPEG(质量 {JPEG_QUALITY})原尺寸上传。"))
    scale = 1.0
    for _ in range(12):
        scale *= max(0.5, min(0.95, math.sqrt(max_bytes / len(data)) * 0.97))
        w, h = max(1, int(im.width * scale)), max(1, int(im.height * scale))
        data = _save(im.resize((w, h), Image.Resampling.LANCZOS), fmt)
        if len(data) <= max_bytes:
            kind = "PNG (to keep transparency)" if has_alpha else f"JPEG quality {JPEG_QUALITY}"
            kind_zh = "PNG(保留透明度)" if has_alpha else f"JPEG(质量 {JPEG_QUALITY})"
            return Encoded(data, "image/png" if has_alpha else "image/jpeg",
                           f"{name}.{'png' if has_alpha else 'jpg'}", w, h, Text(
                f"The image was too large for the 16 MB upload limit even as JPEG: downscaled from "
                f"{im.width}×{im.height} to {w}×{h} and sent as {kind}.",
                f"图片即使用 JPEG 仍超过 16MB 上传限制:已从 {im.width}×{im.height} 缩小到 {w}×{h},以 {kind_zh} 上传。"))
    raise ValidationError("The image cannot be made to fit the 16 MB upload limit.",
                          "图片无法压缩到 16MB 上传限制以内。")


def to_base64(data: bytes) -> str:
    """Plain base64 (no data: prefix), as HiDream expects."""
    return base64.b64encode(data).decode("ascii")


def sniff(data: bytes) -> str | None:
    """The kind of a result body from its first bytes."""
    head = data[:64]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%!PS") or head.startswith(b"\xc5\xd0\xd3\xc6"):
        return "eps"
    text = data[:2048].lstrip().lower()
    if text.startswith(b"<?xml") or text.startswith(b"<svg") or b"<svg" in text:
        return "svg"
    return None


def check_image(data: bytes) -> None:
    """Raise ValueError unless `data` is a complete PNG/JPEG/WebP (used to retry broken downloads)."""
    if sniff(data) not in ("png", "jpeg", "webp"):
        raise ValueError("not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if im.width * im.height > MAX_RESULT_PIXELS:
                    return  # refused by decode_image with a clear message, not retried
                im.verify()
    except Image.DecompressionBombError:
        return
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"broken image: {exc}") from None


def check_vector(kind: str):
    def check(data: bytes) -> None:
        if sniff(data) != kind:
            raise ValueError(f"not an {kind.upper()} file")
    return check


def decode_image(data: bytes, max_pixels: int = MAX_RESULT_PIXELS, task_id: str | None = None) -> np.ndarray:
    """Decode PNG/JPEG/WebP to H×W×3 or H×W×4 (uint8, or uint16 for 16-bit sources)."""
    if sniff(data) not in ("png", "jpeg", "webp"):
        raise ResultError("The service returned a result that is not an image.", "服务返回的结果不是图片。",
                          task_id=task_id)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # we check the size ourselves
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > max_pixels:
                raise _too_many_pixels(im.width, im.height, max_pixels, task_id)
            im.load()
    except ResultError:
        raise
    except Image.DecompressionBombError:
        raise _too_many_pixels(0, 0, max_pixels, task_id) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ResultError(f"A result image could not be decoded ({exc}).", f"结果图片无法解码({exc})。",
                          task_id=task_id) from None
    return _pil_to_array(im)


def _too_many_pixels(w: int, h: int, limit: int, task_id: str | None) -> ResultError:
    size = f"{w}×{h}" if w else "too many"
    return ResultError(
        f"A result of {size} pixels is over the {limit / 1e6:.0f} MP safety limit (decompression-bomb guard) "
        "and was not decoded.",
        f"结果尺寸({size} 像素)超过 {limit / 1e6:.0f} MP 安全上限(解压炸弹防护),未解码。", task_id=task_id)


def _pil_to_array(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im)
        a = np.clip(a, 0, 65535).astype(np.uint16) if mode == "I" else a.astype(np.uint16)
        return np.repeat(a[:, :, None], 3, axis=2)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    elif mode not in ("RGB", "RGBA"):
        if "transparency" in im.info:
            im = im.convert("RGBA")
        else:
            im = im.convert("RGB")
    return np.asarray(im)


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as im:
        return im.size
