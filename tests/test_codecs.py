"""Image encoding for upload and decoding of results."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from hdredraw.engine import codecs
from hdredraw.engine.errors import ResultError, ValidationError


def gradient(h=64, w=80, c=3, dtype=np.float32):
    y, x = np.mgrid[0:h, 0:w]
    chans = [x / max(w - 1, 1), y / max(h - 1, 1), (x + y) / max(h + w - 2, 1), 1 - x / max(w - 1, 1)][:c]
    return np.stack(chans, axis=-1).astype(dtype)


def test_png_round_trip_is_lossless():
    arr = codecs.to_uint8(gradient(c=4))
    out = codecs.decode_image(codecs.encode_png(arr))
    assert out.shape == arr.shape and out.dtype == np.uint8
    assert np.array_equal(out, arr)


def test_float_input_is_cleaned_and_clamped():
    arr = np.array([[[np.nan, np.inf, -np.inf], [1.7, -3.0, 0.5]]], np.float32)
    assert codecs.to_uint8(arr).tolist() == [[[0, 255, 0], [255, 0, 128]]]


@pytest.mark.parametrize("shape", [(0, 10, 3), (10, 10, 2), (10, 10, 5), (10,)])
def test_bad_shapes_are_clear_errors(shape):
    with pytest.raises(ValidationError):
        codecs.encode_upload(np.zeros(shape, np.float32))


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode,fmt,channels", [
    ("RGB", "PNG", 3), ("RGBA", "PNG", 4), ("L", "PNG", 3), ("LA", "PNG", 4), ("RGB", "JPEG", 3),
    ("RGB", "WEBP", 3), ("RGBA", "WEBP", 4), ("CMYK", "JPEG", 3),
])
def test_decode_formats_and_modes(mode, fmt, channels):
    im = Image.fromarray(codecs.to_uint8(gradient(c=4)), "RGBA").convert(mode)
    out = codecs.decode_image(_encode(im, fmt))
    assert out.shape == (64, 80, channels)


def test_palette_with_transparency_keeps_alpha():
    im = Image.fromarray(codecs.to_uint8(gradient(c=3))).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    im.info["transparency"] = 0
    out = codecs.decode_image(_encode(im, "PNG", transparency=0))
    assert out.shape[2] == 4 and (out[..., 3] == 0).any() and (out[..., 3] == 255).any()


def test_sixteen_bit_grey_keeps_precision():
    a = (np.linspace(0, 65535, 64 * 80).reshape(64, 80)).astype(np.uint16)
    out = codecs.decode_image(_encode(Image.fromarray(a), "PNG"))
    assert out.dtype == np.uint16 and out.shape == (64, 80, 3)
    assert int(out[..., 0].max()) > 65000


def test_not_an_image_is_a_result_error():
    with pytest.raises(ResultError):
        codecs.decode_image(b"<html>oops</html>")
    with pytest.raises(ResultError):
        codecs.decode_image(codecs.encode_png(gradient())[:200])


def _bomb_png(w: int, h: int) -> bytes:
    """A tiny file that claims to be w×h pixels (all zeros compress to almost nothing)."""
    raw = zlib.compress(b"\x00" * (w // 8 + 1) * h, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = w.to_bytes(4, "big") + h.to_bytes(4, "big") + bytes([1, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    bomb = _bomb_png(40000, 40000)
    assert len(bomb) < 300_000
    with pytest.raises(ResultError, match="safety limit"):
        codecs.decode_image(bomb)
    with pytest.raises(ResultError, match="safety limit"):
        codecs.decode_image(_bomb_png(2000, 2000), max_pixels=1_000_000)


def test_upload_fits_uses_png():
    enc = codecs.encode_upload(gradient())
    assert enc.mime == "image/png" and enc.note is None and enc.filename.endswith(".png")


def test_over_limit_falls_back_to_jpeg_and_says_so():
    noise = gradient(400, 400) + np.random.default_rng(0).normal(0, 0.03, (400, 400, 3)).astype(np.float32)
    png = len(codecs.encode_png(noise))
    enc = codecs.encode_upload(noise, max_bytes=int(png * 0.8))
    assert enc.mime == "image/jpeg" and (enc.width, enc.height) == (400, 400)
    assert "JPEG" in enc.note.en and "JPEG" in enc.note.zh
    assert len(enc.data) <= png * 0.8


def test_then_downscales_and_says_so():
    noise = np.random.default_rng(1).random((400, 400, 3), dtype=np.float32)
    enc = codecs.encode_upload(noise, max_bytes=60_000)
    assert len(enc.data) <= 60_000 and enc.width < 400
    assert "400×400" in enc.note.en and f"{enc.width}×{enc.height}" in enc.note.zh


def test_alpha_is_never_dropped_by_the_fallback():
    noise = np.random.default_rng(2).random((300, 300, 4), dtype=np.float32)
    enc = codecs.encode_upload(noise, max_bytes=100_000)
    assert enc.mime == "image/png" and len(enc.data) <= 100_000
    assert codecs.decode_image(enc.data).shape[2] == 4
    assert "transparency" in enc.note.en


def test_sniff_and_base64():
    assert codecs.sniff(b"%!PS-Adobe-3.0 EPSF-3.0\n") == "eps"
    assert codecs.sniff(b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>') == "svg"
    assert codecs.to_base64(b"\x00\xff") == "AP8="
