"""Input files from the command line: every format Pillow reads, converted as ComfyUI's Load Image sees it,
and files that cannot be used refused with one bilingual message before anything is sent."""

from __future__ import annotations

import io
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from commands import run_hdredraw as cli
from PIL import Image, ImageCms

from hdredraw.engine import codecs, input_files
from hdredraw.engine.errors import ValidationError

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture
def env(emu):
    emu.processing_time = 0.1
    return {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key}


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims a size (what a decompression bomb looks like before its pixels)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def noise(w: int = 48, h: int = 32, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).convert(mode)


# --------------------------------------------------------------------------- refused, with one message

@pytest.mark.parametrize("name,data,words", [
    ("empty.png", png_header_only(0, 0), ("empty", "为空")),
    ("bomb.png", png_header_only(20000, 20000), ("too large", "过大")),
    ("big.png", png_header_only(10000, 10000), ("too large", "过大")),
    ("cut.png", save(noise(300, 300), "PNG")[:3000], ("truncated", "不完整")),
    ("text.png", b"hello, not an image", ("not an image", "无法识别")),
])
def test_unusable_inputs_are_one_bilingual_message_exit_2_nothing_sent(emu, env, tmp_path, name, data, words):
    (tmp_path / name).write_bytes(data)
    out = cli(["run", "face_enhance", name, "-o", "out"], env, tmp_path)
    assert out.returncode == 2
    assert words[0] in out.stderr and words[1] in out.stderr and name in out.stderr
    assert "Traceback" not in out.stderr and "Warning" not in out.stderr  # no DecompressionBombWarning either
    assert emu.requests == []


def test_skip_bad_inputs_runs_the_others(emu, env, tmp_path):
    (tmp_path / "good.png").write_bytes(save(noise(), "PNG"))
    (tmp_path / "cut.png").write_bytes(save(noise(300, 300), "PNG")[:3000])
    out = cli(["run", "face_enhance", "good.png", "cut.png", "-o", "out", "--skip-bad-inputs"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(emu.submissions) == 1 and "skipped cut.png" in out.stderr


def test_emulator_port_in_use_is_one_message(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        out = cli(["emulator", "--port", str(port)], {}, tmp_path)
    assert out.returncode == 2
    assert f"Port {port}" in out.stderr and "已被占用" in out.stderr and "Traceback" not in out.stderr


# --------------------------------------------------------------------------- designers' formats, end to end

def test_tiff_bmp_gif_webp_and_cmyk_are_accepted_and_uploaded_as_lossless_png(emu, env, tmp_path):
    files = {
        "print.tif": save(noise(seed=1), "TIFF", compression="tiff_lzw"),
        "grey16.tif": save(Image.fromarray(np.full((32, 48), 40000, np.uint16)), "TIFF"),
        "scan.bmp": save(noise(seed=2), "BMP"),
        "anim.gif": _two_frame_gif(),
        "cmyk.jpg": save(noise(seed=3).convert("CMYK"), "JPEG"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    out = cli(["run", "remove_watermark", *files, "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    subs = emu.submissions
    assert len(subs) == 5
    assert all(s["content_type"] == "image/png" and s["image_size"] == [48, 32] for s in subs)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        f"{Path(n).stem}_remove_watermark.png" for n in files)
    assert "first one is used" in out.stdout and "16-bit" in out.stdout and "CMYK" in out.stdout


def test_a_portrait_phone_photo_stays_portrait(emu, env, tmp_path):
    landscape = noise(40, 20)  # stored sideways, as phones do, with EXIF orientation 6 (rotate 90° clockwise)
    exif = landscape.getexif()
    exif[0x0112] = 6
    (tmp_path / "phone.jpg").write_bytes(save(landscape, "JPEG", exif=exif.tobytes()))
    out = cli(["run", "face_enhance", "phone.jpg", "-o", "out"], env, tmp_path)
    assert out.returncode == 0, out.stderr
    assert emu.submissions[0]["image_size"] == [20, 40]  # upright: taller than wide
    with Image.open(tmp_path / "out" / "phone_face_enhance.png") as result:
        assert result.height > result.width


# --------------------------------------------------------------------------- the conversions, pixel by pixel

def _two_frame_gif() -> bytes:
    red, blue = Image.new("RGB", (48, 32), (255, 0, 0)), Image.new("RGB", (48, 32), (0, 0, 255))
    buf = io.BytesIO()
    red.save(buf, "GIF", save_all=True, append_images=[blue], duration=100)
    return buf.getvalue()


def _swapped_profile() -> bytes:
    """sRGB with its red and green primaries swapped and another name: a profile that is clearly not sRGB."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = struct.unpack(">I", data[128:132])[0]
    slots = {bytes(data[132 + 12 * i:136 + 12 * i]): 132 + 12 * i for i in range(count)}
    r, g = slots[b"rXYZ"], slots[b"gXYZ"]
    data[r + 4:r + 12], data[g + 4:g + 12] = data[g + 4:g + 12], data[r + 4:r + 12]
    name = "sRGB".encode("utf-16-be")
    at = data.index(name)
    data[at:at + len(name)] = "Swap".encode("utf-16-be")
    return bytes(data)


def decoded(data: bytes) -> tuple[input_files.InputImage, np.ndarray]:
    ready = input_files.read_input(data)
    return ready, codecs.decode_image(ready.upload.data)


def test_first_frame_of_an_animation():
    ready, pixels = decoded(_two_frame_gif())
    assert ready.upload.mime == "image/png" and tuple(pixels[0, 0, :3]) == (255, 0, 0)


def test_sixteen_bit_is_scaled_not_clipped():
    _, pixels = decoded(save(Image.fromarray(np.full((8, 8), 40000, np.uint16)), "PNG"))
    assert pixels[0, 0, 0] == round(40000 / 257)


def test_icc_profiles_are_converted_to_srgb():
    im = Image.new("RGB", (8, 8), (255, 0, 0))
    ready, pixels = decoded(save(im, "PNG", icc_profile=_swapped_profile()))
    r, g, b = (int(v) for v in pixels[0, 0, :3])
    assert g > 200 and r < 60  # the file's "red" is this profile's green
    assert any("ICC" in n.en for n in ready.notes)
    _, same = decoded(save(im, "PNG", icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()))
    assert tuple(same[0, 0, :3]) == (255, 0, 0)


def test_cmyk_becomes_rgb_and_transparency_is_kept():
    _, pixels = decoded(save(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "TIFF"))
    assert tuple(pixels[0, 0, :3]) == (255, 0, 0)
    im = Image.new("RGBA", (8, 8), (0, 0, 255, 0))
    im.putpixel((0, 0), (0, 0, 255, 255))
    _, pixels = decoded(save(im, "TIFF"))
    assert pixels.shape[2] == 4 and pixels[0, 0, 3] == 255 and pixels[1, 1, 3] == 0


def test_plain_png_and_jpeg_are_sent_byte_for_byte():
    """The service takes them as they are, and the journal recognises them across runs and versions."""
    for fmt, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
        data = save(noise(), fmt)
        ready = input_files.read_input(data)
        assert ready.upload.data == data and ready.upload.mime == mime and ready.notes == []


def test_refusals_in_process():
    with pytest.raises(ValidationError, match="truncated"):
        input_files.read_input(save(noise(300, 300), "JPEG")[:2000])
    with pytest.raises(ValidationError, match="empty"):
        input_files.read_input(b"")
