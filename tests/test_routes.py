"""The web routes' payloads: keys go in, never come out."""

from __future__ import annotations

import json
import os

import pytest
from helpers import settle

pytest.importorskip("torch")

from hdredraw.engine import config  # noqa: E402
from hdredraw.nodes import routes  # noqa: E402


def test_keys_are_write_only(monkeypatch):
    code, body = routes.save_payload({"hdredraw_user_key": "sk-abcdef-WRITEONLY-9876",
                                      "hdredraw_base_url": "https://hd.example"})
    assert code == 200
    text = json.dumps(body, ensure_ascii=False) + json.dumps(routes.status_payload(), ensure_ascii=False)
    assert "WRITEONLY" not in text and "…9876" in text
    assert body["settings"]["hdredraw_user_key"] == {"set": True, "hint": "…9876", "source": "file"}
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
