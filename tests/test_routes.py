"""The web routes: keys go in, never come out; only the pack's own front end may call them.

The payload tests call the route functions directly; the request tests talk HTTP to a real ComfyUI (each
version tests/real_comfyui.py finds) with the pack installed and pointed at the emulator.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
from helpers import settle

pytest.importorskip("torch")

from hdredraw.engine import config, errors  # noqa: E402
from hdredraw.nodes import routes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_keys_are_write_only(monkeypatch):
    code, body = routes.save_payload({"hdredraw_user_key": "sk-abcdef-WRITEONLY-9876",
                                      "hdredraw_base_url": "https://hd.example"})
    assert code == 200
    text = json.dumps(body, ensure_ascii=False) + json.dumps(routes.status_payload(), ensure_ascii=False)
    assert "WRITEONLY" not in text and "…9876" in text
    assert body["settings"]["hdredraw_user_key"] == {"set": True, "hint": "…9876", "source": "file",
                                                     "origin": "https://hd.example", "stale": False}
    assert body["settings"]["hdredraw_base_url"]["value"] == "https://hd.example"
    assert oct(os.stat(config.config_path()).st_mode & 0o777) == "0o600"
    monkeypatch.setenv("HDREDRAW_USER_KEY", "from-env-key-1111")
    assert routes.status_payload()["settings"]["hdredraw_user_key"]["source"] == "env"


def test_bad_updates_are_refused():
    assert routes.save_payload(["x"])[0] == 400
    code, body = routes.save_payload({"no_such_setting": 1})
    assert code == 400 and "no_such_setting" in body["error"]
    assert routes.save_payload({"concurrency": "many"})[0] == 400


def test_tasks_payload_lists_the_journal(comfy, service_env):
    import torch

    from hdredraw import nodes

    settle(nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]().execute(image=torch.rand(1, 16, 16, 3), unique_id="1"))
    tasks = routes.tasks_payload()["tasks"]
    assert tasks[0]["op"] == "face_enhance" and tasks[0]["status"] == "done"
    assert routes.status_payload()["balance"]["remaining_count"] == 99
    assert any(e == "hdredraw.status" for e, _ in comfy.events)


def test_status_survives_a_broken_setting_and_a_restart(monkeypatch, comfy, service_env):
    import torch

    from hdredraw import nodes
    from hdredraw.engine import progress

    settle(nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]().execute(image=torch.rand(1, 8, 8, 3), unique_id="1"))
    progress.last_balance.clear()  # as after a restart
    assert routes.status_payload()["balance"]["remaining_count"] == 99
    monkeypatch.setenv("HDREDRAW_CONCURRENCY", "lots")
    payload = routes.status_payload()
    assert "HDREDRAW_CONCURRENCY" in payload["error"] and payload["schema"]
    assert routes.tasks_payload()["error"]


def test_too_large_or_malformed_updates_are_refused():
    code, body = routes.save_payload({"hdredraw_base_url": "https://x.example/" + "a" * 5_000_000})
    assert code == 400 and body["error_zh"] and len(body["error"]) < 2000
    assert not config.config_path().exists()
    code, body = routes.save_payload(["hdredraw_user_key", "k"])
    assert code == 400 and body["error"] and body["error_zh"]


# ------------------------------------------------------------------ who may call the routes

def _front_end_headers(url: str) -> dict[str, str]:
    """What web/hdredraw/server.js sends (read from the file), plus what a browser adds to a same-origin fetch."""
    js = (ROOT / "web" / "hdredraw" / "server.js").read_text(encoding="utf-8")
    name = re.search(r'const CLIENT_HEADER = "([^"]+)"', js).group(1)
    value = re.search(r'const CLIENT_VALUE = "([^"]+)"', js).group(1)
    return {name: value, "Origin": url, "Referer": url + "/", "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty", "Accept": "*/*"}


def test_the_front_end_sends_the_client_header_on_every_call():
    js = (ROOT / "web" / "hdredraw" / "server.js").read_text(encoding="utf-8")
    calls = re.findall(r"api\.fetchApi\(([^;]*?)\);", js, re.S)
    assert len(calls) == 2 and all("[CLIENT_HEADER]: CLIENT_VALUE" in c for c in calls), calls
    assert '"Content-Type": "application/json"' in calls[1]
    headers = _front_end_headers("http://127.0.0.1:8188")
    assert headers[routes.CLIENT_HEADER] == routes.CLIENT_VALUE


class Headers(dict):
    """Case-insensitive, like aiohttp's."""

    def __init__(self, items):
        super().__init__((k.lower(), v) for k, v in items.items())

    def get(self, key, default=None):
        return super().get(key.lower(), default)


GOOD = {"X-HDRedraw-Client": "1", "Content-Type": "application/json", "Host": "127.0.0.1:8188"}
REFUSED = [
    ("POST", {"Content-Type": "text/plain", "Origin": "null", "Host": "127.0.0.1:8188"}),
    ("POST", {"Content-Type": "application/json", "Host": "127.0.0.1:8188"}),  # no client header
    ("POST", {**GOOD, "X-HDRedraw-Client": "0"}),
    ("POST", {**GOOD, "Content-Type": "text/plain"}),
    ("POST", {**GOOD, "Content-Type": "text/plain; charset=application/json"}),
    ("POST", {**GOOD, "Content-Type": "application/x-www-form-urlencoded"}),
    ("POST", {**GOOD, "Content-Type": "multipart/form-data; boundary=x"}),
    ("POST", {k: v for k, v in GOOD.items() if k != "Content-Type"}),
    ("POST", {**GOOD, "Origin": "null"}),
    ("POST", {**GOOD, "Origin": "NULL"}),
    ("POST", {**GOOD, "Origin": "https://evil.example"}),
    ("POST", {**GOOD, "Origin": "http://127.0.0.1:9999"}),
    ("POST", {**GOOD, "Origin": "http://127.0.0.1"}),
    ("POST", {**GOOD, "Origin": "http://127.0.0.1.evil.example:8188"}),
    ("POST", {**GOOD, "Origin": "http://evil@127.0.0.1:8188"}),
    ("POST", {**GOOD, "Origin": "file://"}),
    ("POST", {**GOOD, "Origin": ""}),
    ("POST", {**GOOD, "Sec-Fetch-Site": "cross-site"}),
    ("POST", {**GOOD, "Sec-Fetch-Site": "same-site"}),
    ("GET", {"Host": "127.0.0.1:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "127.0.0.1:8188", "Origin": "null"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "127.0.0.1:8188", "Sec-Fetch-Site": "cross-site"}),
    # DNS rebinding: the page's own name points at this machine, so the browser calls it same-origin
    ("POST", {**GOOD, "Host": "rebind.example:8188", "Origin": "http://rebind.example:8188",
              "Sec-Fetch-Site": "same-origin"}),
    ("POST", {**GOOD, "Host": "rebind.example:8188", "X-Forwarded-Host": "127.0.0.1:8188",
              "Origin": "http://127.0.0.1:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "rebind.example:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "localhost.rebind.example"}),
    ("POST", {k: v for k, v in GOOD.items() if k != "Host"}),
    ("POST", {**GOOD, "Host": "comfy.example.com", "Origin": "https://comfy.example.com"}),  # unless allowed
]
ALLOWED = [
    ("POST", GOOD),
    ("POST", {**GOOD, "Content-Type": "application/json; charset=UTF-8", "Origin": "http://127.0.0.1:8188",
              "Sec-Fetch-Site": "same-origin"}),
    ("POST", {**GOOD, "Host": "10.0.0.5:8188", "X-Forwarded-Host": "comfy.example.com",
              "Origin": "https://comfy.example.com"}),
    ("POST", {**GOOD, "Host": "[::1]:8188", "Origin": "http://[::1]:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "127.0.0.1:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "localhost:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "comfy.localhost:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": f"{socket.gethostname()}:8188"}),
    ("GET", {"X-HDRedraw-Client": "1", "Host": "192.168.1.20:8188"}),
]


def test_a_reverse_proxys_name_works_once_it_is_allowed():
    headers = Headers({**GOOD, "Host": "Comfy.Example.com", "Origin": "https://comfy.example.com"})
    assert routes.refusal("POST", headers) is not None
    reason = routes.refusal("POST", headers, ["other.example"])
    assert "HDREDRAW_ALLOWED_HOSTS" in reason[0] and "comfy.example.com" in reason[0] and "重绑定" in reason[1]
    assert routes.refusal("POST", headers, ["other.example", "comfy.example.com"]) is None


def test_allowed_hosts_are_host_names():
    assert config.check_value(config._BY_NAME["allowed_hosts"], " Comfy.Example.com:8443, b.example ,,") == \
        "comfy.example.com,b.example"
    for bad in ("https://comfy.example.com", "a/b", "user@host", "a..b", "x:y", 5):
        with pytest.raises(errors.ConfigError) as info:
            config.check_value(config._BY_NAME["allowed_hosts"], bad)
        assert "Nothing was saved" in info.value.en and "未保存" in info.value.zh


@pytest.mark.parametrize(("method", "headers"), REFUSED)
def test_requests_a_page_could_send_cross_site_are_refused(method, headers):
    reason = routes.refusal(method, Headers(headers))
    assert reason is not None and reason[0].startswith("Refused") and reason[1].startswith("已拒绝")


@pytest.mark.parametrize(("method", "headers"), ALLOWED)
def test_the_front_ends_requests_are_allowed(method, headers):
    assert routes.refusal(method, Headers(headers)) is None


# ------------------------------------------------------------------ the same, in a real ComfyUI

ATTACKS = [  # what a page on another site can make a browser send without a CORS preflight, and near misses
    {"Origin": "null", "Content-Type": "text/plain"},
    {"Origin": "https://evil.example", "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null", "Content-Type": "application/x-www-form-urlencoded"},
    {"Content-Type": "text/plain"},
    {"Origin": "null", "Content-Type": "application/json", "X-HDRedraw-Client": "1"},
    {"Content-Type": "application/json"},
    {"Content-Type": "text/plain", "X-HDRedraw-Client": "1"},
    {"Content-Type": "application/json", "X-HDRedraw-Client": "1", "Sec-Fetch-Site": "cross-site"},
]


@pytest.mark.parametrize("headers", ATTACKS, ids=lambda h: ",".join(f"{k}={v}" for k, v in h.items()))
def test_cross_site_settings_post_is_refused_in_comfyui(comfyui, headers):
    ok = comfyui.post("/hdredraw/settings", {"hdredraw_base_url": "https://hd.example", "concurrency": 3},
                      _front_end_headers(comfyui.url))
    assert ok.status == 200, ok.body[:500]
    before = comfyui.config_file.read_bytes()
    for prefix in ("", "/api"):
        answer = comfyui.post(prefix + "/hdredraw/settings",
                              json.dumps({"hdredraw_base_url": "https://evil.example", "concurrency": 64}), headers)
        assert answer.status == 403, (prefix, answer.status, answer.body[:300])
        if headers.get("Origin", "null") == "null":  # ComfyUI lets these through; the pack refuses them
            body = answer.json()
            assert body["error"].startswith("Refused") and body["error_zh"].startswith("已拒绝")
        assert not any(k.startswith("access-control-") for k in answer.headers), answer.headers
    assert comfyui.config_file.read_bytes() == before


def test_a_dns_rebinding_page_cannot_change_settings_in_comfyui(comfyui):
    """Everything a same-origin page sends, but under the page's own name: ComfyUI lets it through."""
    before = comfyui.config_file.read_bytes() if comfyui.config_file.exists() else None
    port = comfyui.url.rsplit(":", 1)[1]
    page = f"http://rebind.example:{port}"
    headers = {**_front_end_headers(page), "Host": f"rebind.example:{port}"}
    for prefix in ("", "/api"):
        answer = comfyui.post(prefix + "/hdredraw/settings", {"max_new_tasks": 1000, "concurrency": 64}, headers)
        assert answer.status == 403, (prefix, answer.status, answer.body[:300])
        assert "DNS rebinding" in answer.json()["error"]
        assert comfyui.get(prefix + "/hdredraw/status", {k: v for k, v in headers.items()
                                                         if k != "Content-Type"}).status == 403
    after = comfyui.config_file.read_bytes() if comfyui.config_file.exists() else None
    assert after == before


def test_the_front_ends_own_requests_work_in_comfyui(comfyui, emu):
    headers = _front_end_headers(comfyui.url)
    answer = comfyui.post("/api/hdredraw/settings", {"hdredraw_user_key": emu.user_key}, headers)
    assert answer.status == 200, answer.body[:500]
    assert emu.user_key not in answer.body.decode()
    stored = json.loads(comfyui.config_file.read_text())
    assert stored["hdredraw_user_key"] == emu.user_key  # bound to the emulator, the base URL in effect
    assert stored["key_origins"] == {"hdredraw_user_key": config.check_base_url(emu.base_url)}
    get_headers = {k: v for k, v in headers.items() if k not in ("Origin", "Content-Type")}  # a same-origin GET
    for route in ("/hdredraw/status", "/api/hdredraw/status", "/hdredraw/tasks?limit=5"):
        answer = comfyui.get(route, get_headers)
        assert answer.status == 200, (route, answer.body[:300])
        assert emu.user_key not in answer.body.decode()
    shown = comfyui.get("/hdredraw/status", get_headers).json()["settings"]["hdredraw_user_key"]
    assert shown["set"] is True and shown["stale"] is False and shown["source"] == "file"


@pytest.mark.parametrize("route", ["/hdredraw/status", "/hdredraw/tasks", "/api/hdredraw/status"])
def test_get_routes_answer_nothing_cross_site_in_comfyui(comfyui, route):
    for headers in ({}, {"Origin": "null"}, {"Origin": "https://evil.example", "X-HDRedraw-Client": "1"},
                    {"X-HDRedraw-Client": "1", "Sec-Fetch-Site": "cross-site"}):
        answer = comfyui.get(route, headers)
        assert answer.status == 403, (headers, answer.status, answer.body[:200])
        if "evil" not in headers.get("Origin", ""):  # (ComfyUI itself refuses a foreign host, with no body)
            assert set(answer.json()) == {"error", "error_zh"}, (headers, answer.body[:200])
        assert not any(k.startswith("access-control-") for k in answer.headers)


def test_an_oversized_settings_post_is_refused_in_comfyui(comfyui):
    headers = _front_end_headers(comfyui.url)
    answer = comfyui.post("/hdredraw/settings", {"hdredraw_base_url": "https://x.example/" + "a" * 5_000_000}, headers)
    assert answer.status == 413 and answer.json()["error_zh"]
    answer = comfyui.post("/hdredraw/settings", b"{not json", {**headers, "Content-Type": "application/json"})
    assert answer.status == 400 and answer.json()["error_zh"]
    answer = comfyui.post("/hdredraw/settings", {"job_timeout": True, "concurrency": 10**9}, headers)
    assert answer.status == 400 and "job_timeout" in answer.json()["error"]
    assert not comfyui.config_file.exists()


def test_a_key_entered_for_another_address_sends_nothing_in_comfyui(comfyui, emu):
    """The key in the config file was entered while the base URL pointed elsewhere: the node fails before
    any request, saying so, and the settings UI reports the key as not usable."""
    comfyui.config_file.parent.mkdir(parents=True, exist_ok=True)
    comfyui.config_file.write_text(json.dumps({"hdredraw_user_key": emu.user_key,
                                               "key_origins": {"hdredraw_user_key": "https://elsewhere.example"}}))
    prompt_id = comfyui.post_prompt({
        "1": {"class_type": "LoadImage", "inputs": {"image": "hdredraw_test.png"}},
        "2": {"class_type": "HDRedraw_FaceEnhance", "inputs": {"image": ["1", 0], "variation": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}})
    entry = comfyui.wait(prompt_id)
    error = dict(entry["status"]["messages"]).get("execution_error")
    assert error and "entered for https://elsewhere.example" in error["exception_message"], entry["status"]
    assert "nothing was sent" in error["exception_message"] and emu.user_key not in json.dumps(entry)
    assert emu.requests == []
    shown = comfyui.get("/hdredraw/status", {"X-HDRedraw-Client": "1"}).json()["settings"]["hdredraw_user_key"]
    assert shown["stale"] is True and shown["origin"] == "https://elsewhere.example" and shown["error_zh"]


def test_an_old_config_file_is_bound_on_first_load_in_comfyui(comfyui, emu):
    comfyui.config_file.parent.mkdir(parents=True, exist_ok=True)
    comfyui.config_file.write_text(json.dumps({"hdredraw_user_key": emu.user_key}))
    shown = comfyui.get("/hdredraw/status", {"X-HDRedraw-Client": "1"}).json()["settings"]["hdredraw_user_key"]
    assert shown["stale"] is False and shown["origin"] == config.check_base_url(emu.base_url)
    assert json.loads(comfyui.config_file.read_text())["key_origins"] == {"hdredraw_user_key": shown["origin"]}
