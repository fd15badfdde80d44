"""The pack in a real ComfyUI (tests/real_comfyui.py, each version found): a node runs a paid task on the
emulator with the key entered through the pack's own settings route, and Cancel stops a waiting node."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from real_comfyui import TEST_IMAGE, history_messages

ROOT = Path(__file__).resolve().parents[1]


def _client_headers(server) -> dict[str, str]:
    js = (ROOT / "web" / "hdredraw" / "server.js").read_text(encoding="utf-8")
    name = re.search(r'const CLIENT_HEADER = "([^"]+)"', js).group(1)
    value = re.search(r'const CLIENT_VALUE = "([^"]+)"', js).group(1)
    return {name: value, "Origin": server.url, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}


def _graph(node_type: str, variation: int) -> dict:
    return {"1": {"class_type": "LoadImage", "inputs": {"image": TEST_IMAGE}},
            "2": {"class_type": node_type, "inputs": {"image": ["1", 0], "variation": variation}},
            "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}


def test_a_node_runs_with_the_key_entered_in_the_settings(comfyui, emu):
    answer = comfyui.post("/hdredraw/settings", {"hdredraw_user_key": emu.user_key}, _client_headers(comfyui))
    assert answer.status == 200, answer.body[:300]
    emu.status_cache = 0.0
    entry = comfyui.wait(comfyui.post_prompt(_graph("HDRedraw_RemoveWatermark", time.time_ns() % 10**9)))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert [s["op"] for s in emu.submissions] == ["remove_watermark"]
    images = entry["outputs"]["3"]["images"]
    assert len(images) == 1 and (comfyui.temp_dir / "temp" / images[0]["filename"]).is_file()
    assert emu.user_key not in json.dumps(entry)  # not in the prompt, the outputs or the messages


def test_cancel_stops_a_waiting_node(comfyui, emu):
    answer = comfyui.post("/hdredraw/settings", {"hdredraw_user_key": emu.user_key}, _client_headers(comfyui))
    assert answer.status == 200, answer.body[:300]
    emu.processing_time = 600.0  # the task would take ten minutes
    prompt_id = comfyui.post_prompt(_graph("HDRedraw_FaceEnhance", time.time_ns() % 10**9))
    deadline = time.monotonic() + 60
    while not emu.submissions:
        assert time.monotonic() < deadline, comfyui.log_tail()
        time.sleep(0.1)
    comfyui.interrupt()
    entry = comfyui.wait(prompt_id, timeout=60)
    assert "execution_interrupted" in history_messages(entry), entry["status"]
    assert len(emu.submissions) == 1


@pytest.mark.parametrize("variable", ["HDREDRAW_CONFIG", "HDREDRAW_DATA_DIR"])
def test_the_server_uses_its_own_pack_folders(comfyui, variable):
    assert comfyui.env[variable].startswith(str(comfyui.tmp))
    assert "." in comfyui.pack_name and "-" in comfyui.pack_name and comfyui.pack_dir.exists()


def test_ci_builds_the_real_comfyui_installs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"\.\./shared/comfyui/setup\.sh (--frontend [\d.]+ )?(--browser )?--pack-reqs requirements\.txt "
                     r"--env-file", ci)
    assert "--frontend 1.58.1" in ci  # the browser test also covers the newest front end
    assert ci.index("setup.sh") < ci.index("python3 -m pytest")
