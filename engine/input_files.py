"""The command line's way in: any image file Pillow reads (TIFF, BMP, GIF, ...), turned into what ComfyUI's
LoadImage would have given the service (first frame, EXIF orientation applied, colour managed to sRGB,
8 bits per channel), refused locally when empty, truncated or too large, so no broken file is paid for.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

from .codecs import MAX_FILE_PIXELS, MAX_UPLOAD_BYTES, PASS_MODES, SERVICE_FORMATS, Encoded, encode_upload, sniff
from .errors import ValidationError
from .text import Text


@dataclass
class InputImage:
    """One input file made ready for upload, with what was done to it (shown to the user, never silent)."""

    upload: Encoded
    source_format: str
    notes: list[Text]


def read_input(data: bytes, name: str = "image") -> InputImage:
    """Decode any image file Pillow reads into the bytes to upload; ValidationError when it cannot be used.

    Files the service takes as they are (PNG, JPEG, WebP in plain RGB/grey/palette, upright, sRGB, one frame,
    under 16 MB) are sent byte for byte, so the journal recognises them across runs and versions.  Everything
    else is converted the way ComfyUI's LoadImage sees it: the first frame, EXIF orientation applied, colours
    converted from an embedded ICC profile (CMYK included) to sRGB, 16-bit scaled to 8-bit, then encoded as
    lossless PNG.  The whole file is decoded either way, so a truncated file is refused here, not paid for.
    """
    if not data:
        raise ValidationError("The file is empty (0 bytes).", "文件为空(0 字节)。")
    im = _open_input(data)
    try:
        notes: list[Text] = []
        fmt = (im.format or "").lower()
        frames = getattr(im, "n_frames", 1) or 1
        orientation = _orientation(im)
        icc = im.info.get("icc_profile")
        foreign_icc = bool(icc) and not _is_srgb(icc)
        passthrough = (fmt in SERVICE_FORMATS and im.mode in PASS_MODES and frames == 1 and orientation == 1
                       and not foreign_icc and len(data) <= MAX_UPLOAD_BYTES and sniff(data) == fmt)
        _load(im)
        if passthrough:
            return InputImage(Encoded(data, f"image/{fmt}", f"{name}.{'jpg' if fmt == 'jpeg' else fmt}",
                                      im.width, im.height), fmt, notes)
        if frames > 1:
            notes.append(Text(f"{frames} frames: the first one is used.", f"共 {frames} 帧:使用第一帧。"))
        if orientation != 1:
            im = ImageOps.exif_transpose(im)
            notes.append(Text("Turned upright from its EXIF orientation (as ComfyUI's Load Image does).",
                              "已按 EXIF 方向信息转正(与 ComfyUI 的 Load Image 一致)。"))
        arr = _normalise(im, icc if foreign_icc or im.mode == "CMYK" else None, notes)
    finally:
        im.close()
    upload = encode_upload(arr, name=name)
    if upload.note is not None:
        notes.append(upload.note)
    return InputImage(upload, fmt or "unknown", notes)


def _open_input(data: bytes) -> Image.Image:
    """Open (headers only) with clear refusals for what Pillow cannot or should not decode."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, with a message
            im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise _input_too_large(str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        if _zero_sized_png(data):
            raise ValidationError("The image is empty (0×0 pixels).", "图像为空(0×0 像素)。") from None
        raise ValidationError(
            f"The file is not an image this pack can read ({type(exc).__name__}). Save it as PNG, JPEG or TIFF.",
            f"无法识别该文件为图像({type(exc).__name__})。请另存为 PNG、JPEG 或 TIFF。") from None
    if im.width < 1 or im.height < 1:
        im.close()
        raise ValidationError("The image is empty (0 pixels).", "图像为空(0 像素)。")
    if im.width * im.height > MAX_FILE_PIXELS:
        w, h = im.size
        im.close()
        raise _input_too_large(f"{w}×{h}")
    return im


def _zero_sized_png(data: bytes) -> bool:
    """A PNG whose header says 0 wide or 0 high (Pillow only says it cannot identify it)."""
    return (data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR"
            and (int.from_bytes(data[16:20], "big") == 0 or int.from_bytes(data[20:24], "big") == 0))


def _input_too_large(size: str) -> ValidationError:
    limit = MAX_FILE_PIXELS / 1e6
    return ValidationError(
        f"The image is too large ({size}; the limit is {limit:.1f} MP, Pillow's decompression-bomb threshold). "
        "Nothing was sent. Downscale it first.",
        f"图像过大({size};上限为 {limit:.1f} MP,即 Pillow 的解压炸弹阈值)。未发送请求。请先缩小图像。")


def _load(im: Image.Image) -> None:
    """Decode every pixel now: a truncated or damaged file fails here, before anything is sent."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValidationError(
            f"The file is truncated or damaged and cannot be decoded ({exc}). Nothing was sent.",
            f"文件不完整或已损坏,无法解码({exc})。未发送请求。") from None


def _orientation(im: Image.Image) -> int:
    try:
        value = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not refuse an otherwise good image
        return 1
    return value if 1 <= value <= 8 else 1


def _is_srgb(icc: bytes) -> bool:
    try:
        from PIL import ImageCms

        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
    except Exception:  # noqa: BLE001 - an unreadable profile is treated as absent (as browsers do)
        return True
    return "srgb" in description.lower().replace(" ", "").replace("-", "")


def _normalise(im: Image.Image, icc: bytes | None, notes: list[Text]) -> np.ndarray:
    """H×W×C uint8 sRGB (C = 3, or 4 with transparency) from any Pillow mode."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if mode != "F" else (1.0 if a.size and float(np.nanmax(a)) <= 1.0 else 255.0)
        grey = np.clip(np.nan_to_num(a) * (255.0 / top) + 0.5, 0, 255).astype(np.uint8)
        if top == 65535.0:
            notes.append(Text("16-bit image scaled to 8 bits per channel.", "16 位图像已转换为每通道 8 位。"))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if icc is not None:
        converted = _to_srgb(im, icc)
        if converted is not None:
            notes.append(Text(f"Colours converted from the embedded {mode} ICC profile to sRGB.",
                              f"已按内嵌的 {mode} ICC 色彩配置转换为 sRGB。"))
            im = converted
        elif mode == "CMYK":
            notes.append(Text("CMYK converted to RGB without a usable ICC profile: colours may shift.",
                              "CMYK 已转换为 RGB(没有可用的 ICC 配置,颜色可能有偏差)。"))
    elif mode == "CMYK":
        notes.append(Text("CMYK converted to RGB (no ICC profile in the file): colours may shift.",
                          "CMYK 已转换为 RGB(文件中没有 ICC 配置,颜色可能有偏差)。"))
    alpha = im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info
    return np.asarray(im.convert("RGBA" if alpha else "RGB"))


def _to_srgb(im: Image.Image, icc: bytes) -> Image.Image | None:
    """The image converted from its ICC profile to sRGB (perceptual intent), or None if that cannot be done."""
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        space = source.profile.xcolor_space.strip().upper()
        pixels = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}.get(space)
        if pixels is None:
            return None
        alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
        if alpha is None and "transparency" in im.info:
            alpha = im.convert("RGBA").getchannel("A")
        base = im if im.mode == pixels else im.convert(pixels)
        target = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        out = ImageCms.profileToProfile(base, source, target, outputMode="RGB")
        if out is None:
            return None
        if alpha is not None:
            out.putalpha(alpha)
        return out
    except Exception:  # noqa: BLE001 - a profile that does not fit the pixels: fall back, and say so
        return None
