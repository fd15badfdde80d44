"""The emulator itself, over real HTTP with plain `requests`: answers, errors, results, faults."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from http.client import HTTPConnection
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from hdredraw.engine import specs
from hdredraw.engine.emulator import Emulator
from hdredraw.engine.emulator.state import account_tag

ROOT = Path(__file__).resolve().parents[1]
SUBMIT_ERRORS = (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
HIDREAM_SUBMIT = specs.OPERATIONS["hidream_vectorize"].endpoint
HIDREAM_RESULTS = specs.OPERATIONS["hidream_results"].endpoint
STATUS = specs.OPERATIONS["check_task_status"].endpoint
PAID_HD = [op for op in specs.OPERATIONS.values() if op.service == specs.HDREDRAW and op.paid]


@pytest.fixture(scope="module")
def server():
    with Emulator(processing_time=0.2, status_cache=0.0) as emu:
        yield emu


@pytest.fixture
def srv(server):
    server.reset()
    server.processing_time = 0.2
    server.status_cache = 0.0
    yield server
    server.reset()


# --------------------------------------------------------------------------- helpers

def picture(w=64, h=48, alpha=False, seed=0) -> Image.Image:
    """A horizontal gradient with texture: left and right edges differ a lot (good for seam tests)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x / w * 200 + 20, y / h * 200 + 20, 128 + 60 * np.sin(x / 4.0 + y / 7.0)], -1)
    rgb = np.clip(rgb + rng.normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    if alpha:
        a = (((x - w / 2) ** 2 + (y - h / 2) ** 2) < (min(w, h) / 3) ** 2).astype(np.uint8) * 255
        return Image.fromarray(np.dstack([rgb, a]), "RGBA")
    return Image.fromarray(rgb, "RGB")


def png(img: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    (img or picture()).save(buf, "PNG")
    return buf.getvalue()


def wire_defaults(op: specs.Operation) -> dict[str, str]:
    """Every parameter at its spec default, as the form text a client sends."""
    out = {f.name: f.to_wire(f.default) for f in op.params if f.default is not None}
    if op.id == "edit_image":
        out["prompt"] = "invert the colours"
    return out


def submit(emu, endpoint, fields=None, image=b"", key=None, timeout=10.0):
    data = {"user_key": emu.user_key if key is None else key, **(fields or {})}
    files = {"input_image": ("in.png", image or png(), "image/png")}
    return requests.post(emu.base_url + endpoint, data=data, files=files, timeout=timeout)


def status(emu, task_id, key=None, timeout=10.0):
    data = {"user_key": emu.user_key if key is None else key, "task_id": task_id}
    return requests.post(emu.base_url + STATUS, data=data, timeout=timeout)


def run(emu, op_id, fields=None, image=b"") -> dict:
    """Submit and poll (status cache off in these tests) until the task ends."""
    op = specs.OPERATIONS[op_id]
    r = submit(emu, op.endpoint, {**wire_defaults(op), **(fields or {})}, image)
    assert r.status_code == 200 and r.json()["err_code"] == 0, r.text
    task_id = r.json()["task_id"]
    deadline = time.time() + 10
    while time.time() < deadline:
        body = status(emu, task_id).json()
        if body["status"] in ("Completed", "Failed"):
            return {"task_id": task_id, **body}
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def fetch_image(url: str) -> Image.Image:
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    img = Image.open(io.BytesIO(r.content))
    img.load()
    return img


def hidream(emu, body, token=None):
    headers = {"Authorization": f"Bearer {emu.hidream_token if token is None else token}"}
    return requests.post(emu.hidream_base_url + HIDREAM_SUBMIT, json=body, headers=headers, timeout=10)


def hidream_results(emu, task_id, token=None):
    headers = {"Authorization": f"Bearer {emu.hidream_token if token is None else token}"}
    return requests.get(emu.hidream_base_url + HIDREAM_RESULTS, params={"task_id": task_id, "request_id": ""},
                        headers=headers, timeout=10)


def b64(img: Image.Image | None = None) -> str:
    return "data:image/png;base64," + base64.b64encode(png(img)).decode()


def render_rects(rects, size) -> np.ndarray:
    """Paint (rgb, x, y, w, h) rectangles given in image pixels onto a white canvas."""
    canvas = np.full((size[1], size[0], 3), 255, dtype=np.float32)
    for rgb, x, y, w, h in rects:
        canvas[round(y):round(y + h), round(x):round(x + w)] = rgb
    return canvas


def render_svg(text: str) -> tuple[np.ndarray, ET.Element]:
    root = ET.fromstring(text.encode())
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == ns + "svg"
    w, h = int(root.get("width")), int(root.get("height"))
    assert root.get("viewBox") == f"0 0 {w} {h}"
    sx, sy = map(float, re.search(r"scale\(([\d.]+) ([\d.]+)\)", text).groups())
    rects = []
    for path in root.iter(ns + "path"):
        fill = path.get("fill")
        rgb = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
        for x, y, rw, rh in re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)h-\d+z", path.get("d")):
            rects.append((rgb, int(x) * sx, int(y) * sy, int(rw) * sx, int(rh) * sy))
    return render_rects(rects, (w, h)), root


def render_eps(data: bytes) -> np.ndarray:
    text = data.decode("ascii")
    w, h = map(int, re.search(r"%%BoundingBox: 0 0 (\d+) (\d+)", text).groups())
    sx, sy = map(float, re.search(r"0 \d+ translate ([\d.]+) -([\d.]+) scale", text).groups())
    rects, rgb = [], (0, 0, 0)
    for line in text.splitlines():
        if line.endswith("setrgbcolor"):
            rgb = tuple(round(float(v) * 255) for v in line.split()[:3])
        elif line.endswith(" R"):
            x, y, rw, rh = map(int, line.split()[:4])
            rects.append((rgb, x * sx, y * sy, rw * sx, rh * sy))
    return render_rects(rects, (w, h))


def two_colour_picture(w=80, h=60, alpha=False) -> Image.Image:
    img = np.zeros((h, w, 4 if alpha else 3), dtype=np.uint8)
    img[:, : w // 2, :3] = (200, 30, 30)
    img[:, w // 2:, :3] = (30, 60, 180)
    if alpha:
        img[..., 3] = 255
        img[: h // 4, :, 3] = 0
    return Image.fromarray(img, "RGBA" if alpha else "RGB")


# --------------------------------------------------------------------------- lifecycle

def test_lifecycle_port_zero_and_stop():
    with Emulator(port=0) as emu:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", emu.base_url) and emu.hidream_base_url == emu.base_url
        assert requests.get(emu.base_url + "/__emulator__/state", timeout=5).status_code == 200
        url = emu.base_url
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url + "/__emulator__/state", timeout=2)


def test_keep_alive_and_content_length(srv):
    conn = HTTPConnection("127.0.0.1", srv.port, timeout=5)
    conn.request("GET", "/__emulator__/state")
    first = conn.getresponse()
    assert first.getheader("Content-Length") and first.read()
    sock = conn.sock
    for _ in range(3):
        conn.request("POST", STATUS, body="user_key=emulator-key&task_id=x",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.getheader("Content-Length")) == len(resp.read())
        assert conn.sock is sock  # the same connection served every request
    conn.close()


def test_chunked_request_body(srv):
    def body():
        yield f"user_key={srv.user_key}&".encode()
        yield b"task_id=nope"

    r = requests.post(srv.base_url + STATUS, data=body(), timeout=5,
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.json() == {"err_code": 1, "err_msg": "任务未找到或状态未知"}


def test_serve_prints_url_key_and_token_and_stops_on_ctrl_c():
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("hdredraw", {str(ROOT / "__init__.py")!r},
                                              submodule_search_locations=[{str(ROOT)!r}])
m = importlib.util.module_from_spec(spec); sys.modules["hdredraw"] = m; spec.loader.exec_module(m)
from hdredraw.engine.emulator import serve
serve(port=0, user_key="cli-key", hidream_token="cli-token", quiet=True)
"""
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        try:
            banner = [proc.stdout.readline() for _ in range(3)]
            url = banner[0].split()[-1]
            assert "cli-key" in banner[1] and "cli-token" in banner[2]
            state = requests.get(url + "/__emulator__/state", timeout=5).json()
            assert state["accounts"] == {"cli-key": {"remaining_count": 100, "remaining_money": 300}}
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=10) == 0 and "Traceback" not in proc.stderr.read()
        finally:
            if proc.poll() is None:
                proc.kill()


def test_unknown_path_and_wrong_method(srv):
    assert requests.get(srv.base_url + "/nope", timeout=5).status_code == 404
    assert requests.get(srv.base_url + "/api/submit_task", timeout=5).status_code == 405


# --------------------------------------------------------------------------- HD Redraw submit

@pytest.mark.parametrize("op", PAID_HD, ids=lambda op: op.id)
def test_every_submit_endpoint_charges_and_completes(srv, op):
    srv.processing_time = 0.1
    result = run(srv, op.id)
    assert result["status"] == "Completed"
    assert srv.account(srv.user_key) == {"remaining_count": 99, "remaining_money": 300}
    assert result["remaining_count"] == 99 and result["remaining_money"] == 300
    assert {"images_url", "vector_url", "grid_url"} <= set(result)
    assert fetch_image(result["images_url"]).size[0] > 0
    [sent] = srv.submissions
    assert sent["op"] == op.id and sent["endpoint"] == op.endpoint and sent["task_id"] == result["task_id"]
    assert "user_key" not in sent["fields"] and sent["fields"] == wire_defaults(op)
    assert sent["file_sha256"] == hashlib.sha256(png()).hexdigest() and sent["content_type"] == "image/png"


def test_urlencoded_status_and_success_shape(srv):
    r = submit(srv, "/api/submit_face_enhance_task")
    body = r.json()
    assert set(body) == {"err_code", "task_id", "remaining_count", "remaining_money"}
    assert body["err_code"] == 0 and body["remaining_count"] == 99


def test_count_first_then_money_then_refused(srv):
    srv.add_account("small", 1, 1)
    first = submit(srv, "/api/submit_remove_fabric_task", key="small").json()
    second = submit(srv, "/api/submit_remove_fabric_task", key="small").json()
    third = submit(srv, "/api/submit_remove_fabric_task", key="small").json()
    assert (first["remaining_count"], first["remaining_money"]) == (0, 1)
    assert (second["remaining_count"], second["remaining_money"]) == (0, 0)
    assert third == {"err_code": 1, "err_msg": "账户剩余次数不足"}
    assert len(srv.submissions) == 2 and srv.account("small") == {"remaining_count": 0, "remaining_money": 0}


def test_price_is_taken_from_money(srv):
    with Emulator(remaining_count=0, remaining_money=5, price=2) as emu:
        assert submit(emu, "/api/submit_face_enhance_task").json()["remaining_money"] == 3


@pytest.mark.parametrize("key", ["", "wrong-key"])
def test_unknown_account(srv, key):
    assert submit(srv, "/api/submit_task", wire_defaults(specs.OPERATIONS["redraw"]), key=key).json() == {
        "err_code": 1, "err_msg": "账户不存在"}
    assert status(srv, "whatever", key=key).json() == {"err_code": 1, "err_msg": "账户不存在"}
    assert srv.submissions == []


def test_file_size_limit_is_16_mib(srv):
    limit = 16 * 1024 * 1024
    too_big = submit(srv, "/api/submit_remove_watermark_task", image=b"\0" * (limit + 1)).json()
    assert too_big == {"err_code": 1, "err_msg": "文件大小不能超过16MB"}
    at_limit = submit(srv, "/api/submit_remove_watermark_task", image=b"\0" * limit).json()
    assert at_limit == {"err_code": 1, "err_msg": "任务提交失败:无法识别的图像文件"}
    assert srv.submissions == [] and srv.account(srv.user_key)["remaining_count"] == 100


@pytest.mark.parametrize("endpoint", ["/api/submit_expand_image_task", "/api/submit_seamless_task"])
@pytest.mark.parametrize("name,value", [("expand_left", "0.31"), ("expand_top", "-0.1")])
def test_expand_range_message(srv, endpoint, name, value):
    body = submit(srv, endpoint, {name: value}).json()
    assert body == {"err_code": 1, "err_msg": f"扩展参数错误:{name}必须在0.0-0.3之间"}
    assert srv.submissions == []


@pytest.mark.parametrize("op_id,field,value", [
    ("redraw", "upscale", "9"), ("redraw", "s_noise", "abc"), ("redraw", "steps", "19"),
    ("redraw", "high_fidelity", "maybe"), ("redraw", "color_count", "2.5"), ("vectorize", "color_count", "17"),
    ("seamless", "direction", "3"), ("seamless", "fit", "0.95"), ("edit_image", "model_version", "v3"),
    ("edit_image", "prompt", ""), ("extract_pattern", "aspect_ratio", "5:1"),
    ("redraw", "strong_inpaint_intensity", "nan"),
])
def test_field_errors_name_the_field(srv, op_id, field, value):
    op = specs.OPERATIONS[op_id]
    body = submit(srv, op.endpoint, {**wire_defaults(op), field: value}).json()
    assert body["err_code"] == 1 and body["err_msg"].startswith("任务提交失败:") and field in body["err_msg"]
    assert srv.submissions == []


def test_missing_required_field(srv):
    body = submit(srv, "/api/submit_edit_image_task", {}).json()
    assert body["err_code"] == 1 and body["err_msg"].startswith("任务提交失败:") and "prompt" in body["err_msg"]


def test_defaults_fill_optional_fields(srv):
    assert submit(srv, "/api/submit_seamless_task", {}).json()["err_code"] == 0
    assert srv.task(srv.submissions[0]["task_id"])["params"]["direction"] == 0


@pytest.mark.parametrize("image", [b"", b"not an image at all"])
def test_bad_image(srv, image):
    r = requests.post(srv.base_url + "/api/submit_face_enhance_task", data={"user_key": srv.user_key},
                      files={"input_image": ("x.png", image, "image/png")} if image else None, timeout=5)
    assert r.json() == {"err_code": 1, "err_msg": "任务提交失败:无法识别的图像文件"}
    assert srv.account(srv.user_key)["remaining_count"] == 100


@pytest.mark.parametrize("truthy", ["true", "True", "1"])
def test_boolean_spellings(srv, truthy):
    result = run(srv, "redraw", {"vector_switch": truthy, "high_fidelity": "False", "strong_inpaint": "0"})
    assert result["vector_url"].endswith("/vector")


# --------------------------------------------------------------------------- status and the cache

def test_status_progression(srv):
    srv.processing_time = 1.0
    task_id = submit(srv, "/api/submit_face_enhance_task").json()["task_id"]
    seen = []
    while not seen or seen[-1] != "Completed":
        body = status(srv, task_id).json()
        if body["status"] != "Completed":
            assert set(body) == {"err_code", "status"}
        seen.append(body["status"])
        time.sleep(0.04)
    stages = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert stages == ["Pending", "Processing", "Completed"]
    info = srv.task(task_id)
    assert info["done_at"] == pytest.approx(info["created"] + 1.0) and srv.status_polls(task_id) == len(seen)


def test_status_cache_returns_the_same_answer_within_the_window(srv):
    srv.processing_time = 0.3
    srv.status_cache = 1.0
    task_id = submit(srv, "/api/submit_face_enhance_task").json()["task_id"]
    submitted = time.time()
    first = status(srv, task_id)  # computed (and cached) between `submitted` and `answered`
    answered = time.time()
    time.sleep(max(0.0, submitted + 0.5 - time.time()))  # the task is done by now ...
    cached = status(srv, task_id)
    assert cached.content == first.content and cached.json()["status"] == "Pending"  # ... but the cache says not
    time.sleep(max(0.0, answered + 1.05 - time.time()))
    fresh = status(srv, task_id).json()
    assert fresh["status"] == "Completed" and fresh["images_url"]
    assert srv.status_polls(task_id) == 3


def test_status_unknown_or_foreign_task(srv):
    srv.add_account("other", 5, 0)
    task_id = submit(srv, "/api/submit_face_enhance_task").json()["task_id"]
    not_found = {"err_code": 1, "err_msg": "任务未找到或状态未知"}
    assert status(srv, "no-such-task").json() == not_found
    assert status(srv, task_id, key="other").json() == not_found


def test_fail_next_ends_failed(srv):
    srv.fail_next("failed")
    assert run(srv, "face_enhance") == {"task_id": srv.submissions[0]["task_id"], "err_code": 0, "status": "Failed"}
    assert run(srv, "face_enhance")["status"] == "Completed"  # only the next one


def test_per_operation_processing_time(srv):
    srv.set_processing_time("seamless", 1.5)
    a = submit(srv, "/api/submit_seamless_task").json()["task_id"]
    b = submit(srv, "/api/submit_face_enhance_task").json()["task_id"]
    assert srv.task(a)["done_at"] - srv.task(a)["created"] == pytest.approx(1.5)
    assert srv.task(b)["done_at"] - srv.task(b)["created"] == pytest.approx(0.2)


# --------------------------------------------------------------------------- results are real

def test_redraw_upscales_and_adds_vector_and_prompt(srv):
    result = run(srv, "redraw", {"upscale": "2", "vector_switch": "true", "auto_generate_prompt": "true",
                                 "color_count": "4", "prompt": "red flowers"})
    assert fetch_image(result["images_url"]).size == (128, 96)
    assert result["generated_prompt"].endswith("red flowers") and "high quality" in result["generated_prompt"]
    assert result["grid_url"] == "" and "images_urls" not in result and "images_url_1m" not in result
    eps = requests.get(result["vector_url"], timeout=5)
    assert eps.headers["Content-Type"] == "application/postscript"
    text = eps.content.decode("ascii")
    assert text.startswith("%!PS-Adobe-3.0 EPSF-3.0\n") and "%%BoundingBox: 0 0 128 96" in text
    assert text.rstrip().endswith("showpage\n%%EOF") and len({ln for ln in text.splitlines()
                                                             if ln.endswith("setrgbcolor")}) <= 4


def test_redraw_without_extras(srv):
    result = run(srv, "redraw")
    assert result["vector_url"] == "" and "generated_prompt" not in result
    assert fetch_image(result["images_url"]).size == (64, 48)


def test_vectorize_preview_and_eps_match_the_picture(srv):
    img = two_colour_picture()
    result = run(srv, "vectorize", {"color_count": "3"}, png(img))
    preview = np.asarray(fetch_image(result["images_url"]).convert("RGB"))
    assert len(np.unique(preview.reshape(-1, 3), axis=0)) <= 3
    rendered = render_eps(requests.get(result["vector_url"], timeout=5).content)
    assert rendered.shape == (60, 80, 3) and np.abs(rendered - np.asarray(img)).mean() < 3


@pytest.mark.parametrize("direction,axes,grid", [(0, (0, 1), (2, 2)), (1, (0,), (1, 2)), (2, (1,), (2, 1))])
def test_seamless_really_tiles(srv, direction, axes, grid):
    img = picture(64, 48)
    result = run(srv, "seamless", {"direction": str(direction), "fit": "0.5", "expand_top": "0.25"}, png(img))
    one = np.asarray(fetch_image(result["images_url_1m"])).astype(np.float32)
    assert one.shape[:2] == (60, 64)  # 25% of 48 added on top
    assert fetch_image(result["images_url"]).size == (128, 120)
    assert fetch_image(result["grid_url"]).size == (64 * grid[0], 60 * grid[1])
    src = np.asarray(img).astype(np.float32)
    for axis in axes:
        inside = np.abs(np.diff(one, axis=axis)).mean()
        seam = np.abs(one.take(-1, axis=axis) - one.take(0, axis=axis)).mean()
        before = np.abs(src.take(-1, axis=axis) - src.take(0, axis=axis)).mean()
        assert seam <= 2.0 * inside + 1.0 and before > 10 * inside  # the seam was obvious, now it is gone


def test_extract_pattern_returns_two_sizes(srv):
    result = run(srv, "extract_pattern", {"aspect_ratio": "16:9"}, png(picture(96, 96)))
    urls = result["images_urls"]
    assert len(urls) == 2 and urls[0] == result["images_url"] and urls[1].endswith("/alternative/1")
    sizes = [fetch_image(u).size for u in urls]
    assert sizes[0] == (96, 54) and sizes[1] == (72, 40) and sizes[0] != sizes[1]


def test_expand_image_grows_by_the_ratios(srv):
    result = run(srv, "expand_image", {"expand_left": "0.25", "expand_bottom": "0.1"}, png(picture(64, 40)))
    out = np.asarray(fetch_image(result["images_url"]))
    assert out.shape[:2] == (44, 80)
    assert np.array_equal(out[:40, 16:], np.asarray(picture(64, 40)))  # the original is untouched inside


@pytest.mark.parametrize("prompt,check", [
    ("make it gray", lambda o, i: np.abs(o[..., 0] - o[..., 1]).max() == 0),
    ("反色", lambda o, i: np.abs(o + i - 255).mean() < 1),
    ("more vivid", lambda o, i: o.std(axis=2).mean() > i.std(axis=2).mean()),
])
def test_edit_image_follows_the_instruction(srv, prompt, check):
    img = picture()
    result = run(srv, "edit_image", {"prompt": prompt, "model_version": "v1"}, png(img))
    out = np.asarray(fetch_image(result["images_url"]).convert("RGB")).astype(np.float32)
    assert check(out, np.asarray(img).astype(np.float32))


@pytest.mark.parametrize("op_id", ["face_enhance", "redraw", "seamless", "remove_diamonds", "expand_image"])
def test_alpha_is_preserved(srv, op_id):
    result = run(srv, op_id, {}, png(picture(alpha=True)))
    out = fetch_image(result["images_url"])
    alpha = np.asarray(out)[..., 3] if out.mode == "RGBA" else None
    assert alpha is not None and alpha.min() == 0 and alpha.max() == 255


def test_remove_diamonds_removes_bright_specks(srv):
    arr = np.full((48, 64, 3), 90, dtype=np.uint8)
    arr[10:12, 10:12] = arr[30:32, 40:42] = 255
    result = run(srv, "remove_diamonds", {}, png(Image.fromarray(arr)))
    out = np.asarray(fetch_image(result["images_url"]).convert("RGB"))
    assert np.abs(out.astype(int) - 90).max() <= 2


def test_remove_fabric_removes_fine_weave(srv):
    y, x = np.mgrid[0:48, 0:64]
    base = np.where(x < 32, 60.0, 190.0)
    weave = base + 30 * ((x + y) % 2 * 2 - 1)
    result = run(srv, "remove_fabric", {}, png(Image.fromarray(np.dstack([weave] * 3).astype(np.uint8))))
    out = np.asarray(fetch_image(result["images_url"]).convert("L")).astype(float)
    assert out[:, 4:28].std() < 5 and out[:, 36:60].std() < 5 and out[:, 36:60].mean() - out[:, 4:28].mean() > 100


def test_results_are_computed_once(srv):
    result = run(srv, "seamless")
    assert requests.get(result["grid_url"], timeout=5).content == requests.get(result["grid_url"], timeout=5).content
    assert requests.get(result["images_url"].replace("/api/images/", "/api/images/wrongtag", 1),
                        timeout=5).status_code == 404


def test_download_before_completion_is_404(srv):
    srv.processing_time = 5
    task_id = submit(srv, "/api/submit_face_enhance_task").json()["task_id"]
    url = f"{srv.base_url}/api/images/{account_tag(srv.user_key)}/{task_id}"
    assert requests.get(url, timeout=5).status_code == 404


# --------------------------------------------------------------------------- HiDream

def test_hidream_submit_progress_and_svg(srv):
    srv.processing_time = 1.5  # "waiting" is the first 10%: long enough to be seen by the first poll
    img = two_colour_picture(alpha=True)
    r = hidream(srv, {"image": b64(img), "mode": "slow", "notify_url": "https://example.invalid/cb"})
    body = r.json()
    assert r.status_code == 200 and set(body) == {"code", "message", "request_id", "result"}
    assert body["code"] == 0 and body["message"] == "Success" and set(body["result"]) == {"sub_task_ids", "task_id"}
    task_id = body["result"]["task_id"]
    seen = []
    while not seen or seen[-1]["task_status"] not in (1, 3, 4):
        res = hidream_results(srv, task_id).json()
        assert res["code"] == 0 and res["result"]["task_id"] == task_id
        [sub] = res["result"]["sub_task_results"]
        assert sub["sub_task_id"] == body["result"]["sub_task_ids"][0]
        seen.append(sub)
        time.sleep(0.03)
    codes = [s["task_status"] for s in seen]
    assert [c for i, c in enumerate(codes) if i == 0 or codes[i - 1] != c] == [0, 2, 1]
    fractions = [s["task_completion"] for s in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1 and all(round(f, 2) == f for f in fractions)
    assert all(s["image"] == "" for s in seen[:-1])
    assert re.search(r"/media/[0-9a-f-]{36}_final\.svg$", seen[-1]["image"])
    svg = requests.get(seen[-1]["image"], timeout=5)
    assert svg.headers["Content-Type"] == "image/svg+xml"
    rendered, root = render_svg(svg.text)
    assert len(list(root.iter("{http://www.w3.org/2000/svg}path"))) == 2
    src = np.asarray(img).astype(np.float32)
    opaque = src[..., 3] > 0
    assert np.abs(rendered[opaque] - src[opaque][:, :3]).mean() < 3
    assert (rendered[~opaque] == 255).all()  # transparent areas are left empty
    [sent] = srv.submissions
    assert sent["op"] == "hidream_vectorize" and sent["fields"] == {"mode": "slow",
                                                                    "notify_url": "https://example.invalid/cb"}


def test_hidream_fast_mode_is_quicker(srv):
    srv.processing_time = 1.0
    task_id = hidream(srv, {"image": b64(), "mode": "fast"}).json()["result"]["task_id"]
    info = srv.task(task_id)
    assert info["done_at"] - info["created"] == pytest.approx(0.3)


def test_hidream_image_by_url_only_from_itself(srv):
    result = run(srv, "face_enhance")
    ok = hidream(srv, {"image": result["images_url"], "mode": "fast"}).json()
    assert ok["code"] == 0
    assert hidream(srv, {"image": "https://example.com/a.png", "mode": "fast"}).json()["code"] == 40002


@pytest.mark.parametrize("token", ["", "wrong"])
def test_hidream_auth(srv, token):
    for r in (hidream(srv, {"image": b64(), "mode": "fast"}, token=token), hidream_results(srv, "x", token=token)):
        assert r.status_code == 401 and r.json()["code"] == 40101
        assert r.json()["message"] == "Unauthorized: invalid token"
    assert srv.submissions == []


@pytest.mark.parametrize("body,code", [
    ({"image": "AAAA", "mode": "medium"}, 40001), ({"image": "bm90IGFuIGltYWdl", "mode": "fast"}, 40003),
    ({"mode": "fast"}, 40003), ({"image": "x", "mode": None}, 40001),
])
def test_hidream_bad_requests(srv, body, code):
    assert hidream(srv, body).json()["code"] == code
    assert srv.submissions == []


def test_hidream_unknown_task(srv):
    assert hidream_results(srv, "nope").json()["code"] == 40004


@pytest.mark.parametrize("kind,expected", [("moderation", 4), ("failed", 3)])
def test_hidream_fail_next(srv, kind, expected):
    srv.fail_next(kind)
    task_id = hidream(srv, {"image": b64(), "mode": "fast"}).json()["result"]["task_id"]
    time.sleep(0.1)
    [sub] = hidream_results(srv, task_id).json()["result"]["sub_task_results"]
    assert sub["task_status"] == expected and sub["image"] == ""


# --------------------------------------------------------------------------- faults

def _finished_task(emu) -> dict:
    emu.processing_time = 0.05
    return run(emu, "face_enhance")


def _call(emu, phase, task=None, timeout=5.0):
    if phase == "submit":
        return submit(emu, "/api/submit_face_enhance_task", timeout=timeout)
    if phase == "status":
        return status(emu, task["task_id"], timeout=timeout)
    return requests.get(task["images_url"], timeout=timeout)


@pytest.mark.parametrize("phase", ["submit", "status", "download"])
@pytest.mark.parametrize("kind", ["500", "502", "503", "429"])
def test_http_error_faults(srv, phase, kind):
    task = _finished_task(srv) if phase != "submit" else None
    before = len(srv.submissions)
    srv.inject(phase, kind, count=2, retry_after=7)
    for _ in range(2):
        r = _call(srv, phase, task)
        assert r.status_code == int(kind)
        if kind == "429":
            assert r.headers["Retry-After"] == "7"
    assert _call(srv, phase, task).status_code == 200
    assert len(srv.submissions) == before + (1 if phase == "submit" else 0)  # only the healthy call created one
    faulted = [r for r in srv.requests if r["fault"]]
    assert [(r["phase"], r["fault"]) for r in faulted] == [(phase, kind)] * 2


@pytest.mark.parametrize("phase", ["submit", "status", "download"])
def test_drop_closes_without_an_answer(srv, phase):
    task = _finished_task(srv) if phase != "submit" else None
    before = len(srv.submissions)
    srv.inject(phase, "drop")
    with pytest.raises(SUBMIT_ERRORS):
        _call(srv, phase, task)
    assert len(srv.submissions) == before
    assert _call(srv, phase, task).status_code == 200


def test_drop_after_accept_creates_exactly_one_task(srv):
    srv.inject("submit", "drop_after_accept")
    with pytest.raises(SUBMIT_ERRORS):
        submit(srv, "/api/submit_face_enhance_task")
    assert len(srv.submissions) == 1 and srv.account(srv.user_key)["remaining_count"] == 99
    srv.inject("submit", "drop_after_accept")
    with pytest.raises(SUBMIT_ERRORS):
        hidream(srv, {"image": b64(), "mode": "fast"})
    assert len(srv.submissions) == 2


@pytest.mark.parametrize("phase", ["submit", "status", "download"])
def test_truncate_sends_half_the_body(srv, phase):
    task = _finished_task(srv) if phase != "submit" else None
    before = len(srv.submissions)
    srv.inject(phase, "truncate")
    with pytest.raises(SUBMIT_ERRORS):
        _call(srv, phase, task)
    assert len(srv.submissions) == before + (1 if phase == "submit" else 0)  # processed, answer cut


def test_truncate_raw_bytes(srv):
    task = _finished_task(srv)
    full = requests.get(task["images_url"], timeout=5).content
    srv.inject("download", "truncate")
    path = task["images_url"][len(srv.base_url):]
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(full)}".encode() in head and body == full[: len(full) // 2]


@pytest.mark.parametrize("phase", ["submit", "status", "download"])
def test_malformed_answers(srv, phase):
    task = _finished_task(srv) if phase != "submit" else None
    srv.inject(phase, "malformed")
    r = _call(srv, phase, task)
    assert r.status_code == 200
    if phase == "download":
        assert r.headers["Content-Type"] == "image/png"
        with pytest.raises(Exception):  # noqa: B017 - Pillow raises its own UnidentifiedImageError
            Image.open(io.BytesIO(r.content)).load()
    else:
        with pytest.raises(ValueError):
            r.json()


@pytest.mark.parametrize("phase", ["submit", "status", "download"])
def test_hang_then_answer(srv, phase):
    task = _finished_task(srv) if phase != "submit" else None
    before = len(srv.submissions)
    srv.inject(phase, "hang", seconds=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _call(srv, phase, task, timeout=0.2)
    time.sleep(0.6)
    assert len(srv.submissions) == before + (1 if phase == "submit" else 0)  # a slow server still did the work
    assert [r["fault"] for r in srv.requests if r["phase"] == phase][-1] == "hang"


def test_hidream_phases_share_the_fault_queues(srv):
    srv.inject("submit", "503")
    assert hidream(srv, {"image": b64(), "mode": "fast"}).status_code == 503
    task_id = hidream(srv, {"image": b64(), "mode": "fast"}).json()["result"]["task_id"]
    srv.inject("status", "502")
    assert hidream_results(srv, task_id).status_code == 502
    assert len(srv.submissions) == 1


def test_faults_are_fifo_per_phase(srv):
    srv.inject("submit", "500")
    srv.inject("submit", "503")
    srv.inject("status", "502")
    codes = [submit(srv, "/api/submit_face_enhance_task").status_code for _ in range(3)]
    assert codes == [500, 503, 200]


def test_invalid_fault_is_refused(srv):
    with pytest.raises(ValueError):
        srv.inject("upload", "500")
    with pytest.raises(ValueError):
        srv.inject("submit", "teapot")


def test_faults_leave_no_traceback(srv, capfd):
    task = _finished_task(srv)
    for kind in ("drop", "truncate"):
        srv.inject("download", kind)
        with pytest.raises(SUBMIT_ERRORS):
            requests.get(task["images_url"], timeout=5)
    srv.inject("download", "hang", seconds=0.3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(task["images_url"], timeout=0.1)
    time.sleep(0.4)
    assert "Traceback" not in capfd.readouterr().err


# --------------------------------------------------------------------------- concurrency and control API

def test_concurrent_submits_are_counted_exactly(srv):
    srv.add_account("busy", 7, 0)
    results: list[dict] = []

    def one() -> None:
        results.append(submit(srv, "/api/submit_face_enhance_task", key="busy").json())

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r for r in results if r["err_code"] == 0]
    assert len(ok) == 7 and len({r["task_id"] for r in ok}) == 7
    assert sorted(r["remaining_count"] for r in ok) == list(range(7))
    assert [r["err_msg"] for r in results if r["err_code"]] == ["账户剩余次数不足"] * 3


def test_http_control_api(srv):
    base = srv.base_url + "/__emulator__"
    assert requests.post(base + "/config", json={"processing_time": 0.1, "status_cache": 0.5}, timeout=5).ok
    assert srv.processing_time == 0.1 and srv.status_cache == 0.5
    assert requests.post(base + "/accounts", json={"key": "remote", "remaining_count": 2}, timeout=5).ok
    assert requests.post(base + "/faults", json={"phase": "submit", "kind": "502", "count": 1}, timeout=5).ok
    assert submit(srv, "/api/submit_face_enhance_task", key="remote").status_code == 502
    assert requests.post(base + "/fail_next", json={"kind": "failed", "count": 1}, timeout=5).ok
    task_id = submit(srv, "/api/submit_face_enhance_task", key="remote").json()["task_id"]
    assert srv.task(task_id)["fail"] == "failed"
    state = requests.get(base + "/state", timeout=5).json()
    assert [s["task_id"] for s in state["submissions"]] == [task_id]
    assert state["accounts"]["remote"] == {"remaining_count": 1, "remaining_money": 0}
    assert state["request_count"] == len(srv.requests)
    bad = requests.post(base + "/faults", json={"phase": "nope", "kind": "500"}, timeout=5)
    assert bad.status_code == 400 and bad.json()["ok"] is False
    assert requests.post(base + "/reset", timeout=5).ok
    state = requests.get(base + "/state", timeout=5).json()
    assert state["submissions"] == [] and "remote" not in state["accounts"]
    assert state["accounts"][srv.user_key] == {"remaining_count": 100, "remaining_money": 300}


def test_reset_restores_defaults(srv):
    run(srv, "face_enhance")
    srv.inject("submit", "500")
    srv.reset()
    assert srv.submissions == [] and srv.requests == [] and srv.account(srv.user_key)["remaining_count"] == 100
    assert submit(srv, "/api/submit_face_enhance_task").status_code == 200
