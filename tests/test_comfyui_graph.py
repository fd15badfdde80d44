"""Whole graphs in a real ComfyUI (each version found): list inputs under the spend guard, several pack nodes
waiting together, and Cancel across them.  Assertions are on what the emulator recorded, never on time."""

from __future__ import annotations

import time

import pytest
from real_comfyui import TEST_IMAGE, history_messages
from test_comfyui import _client_headers

PACK_NODES = ("HDRedraw_FaceEnhance", "HDRedraw_RemoveFabric", "HDRedraw_RemoveDiamonds", "HDRedraw_RemoveWatermark")


def _settings(server, emu, **values) -> None:
    answer = server.post("/hdredraw/settings", {"hdredraw_user_key": emu.user_key, **values}, _client_headers(server))
    assert answer.status == 200, answer.body[:300]


def _wait_until(predicate, what: str, server, limit: float = 90.0) -> None:
    end = time.monotonic() + limit
    while not predicate():
        assert time.monotonic() < end, f"gave up waiting for {what}\n{server.log_tail()}"
        time.sleep(0.05)


def _four_nodes(variation: int) -> dict:
    graph: dict = {"1": {"class_type": "LoadImage", "inputs": {"image": TEST_IMAGE}}}
    for i, node_type in enumerate(PACK_NODES):
        graph[str(10 + i)] = {"class_type": node_type, "inputs": {"image": ["1", 0], "variation": variation}}
        graph[str(20 + i)] = {"class_type": "PreviewImage", "inputs": {"images": [str(10 + i), 0]}}
    return graph


def test_a_list_input_cannot_slip_past_the_spend_guard(comfyui, emu):
    """Three different images as a ComfyUI list (RebatchImages, batch_size 1) run the node three times; with
    a cap of 2 per queued prompt only two are submitted, whichever order they run in."""
    _settings(comfyui, emu, max_new_tasks=2)
    variation = time.time_ns() % 10**9
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": TEST_IMAGE}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "ImageBlur", "inputs": {"image": ["1", 0], "blur_radius": 3, "sigma": 2.0}},
        "4": {"class_type": "ImageBatch", "inputs": {"image1": ["1", 0], "image2": ["2", 0]}},
        "5": {"class_type": "ImageBatch", "inputs": {"image1": ["4", 0], "image2": ["3", 0]}},
        "6": {"class_type": "RebatchImages", "inputs": {"images": ["5", 0], "batch_size": 1}},
        "7": {"class_type": "HDRedraw_RemoveFabric", "inputs": {"image": ["6", 0], "variation": variation}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
    }
    entry = comfyui.wait(comfyui.post_prompt(graph))
    error = history_messages(entry).get("execution_error", {})
    assert "spend guard" in error.get("exception_message", ""), entry["status"]
    assert len(emu.submissions) == 2
    _settings(comfyui, emu, max_new_tasks=16)
    entry = comfyui.wait(comfyui.post_prompt(graph))  # a new prompt: the two done are reused, one is new
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(emu.submissions) == 3


def test_four_pack_nodes_wait_together(comfyui, emu):
    _settings(comfyui, emu)
    emu.processing_time = 3.0
    entry = comfyui.wait(comfyui.post_prompt(_four_nodes(time.time_ns() % 10**9)))
    assert entry["status"]["status_str"] == "success", entry["status"]
    subs = sorted(emu.submissions, key=lambda s: s["time"])
    assert len(subs) == 4
    assert subs[-1]["time"] < subs[0]["time"] + emu.processing_time  # all four were running at once


def test_cancel_ends_four_waiting_nodes_and_a_rerun_pays_nothing(comfyui, emu):
    _settings(comfyui, emu)
    emu.processing_time = 8.0
    graph = _four_nodes(time.time_ns() % 10**9)
    prompt_id = comfyui.post_prompt(graph)
    _wait_until(lambda: len(emu.submissions) == 4, "four submissions", comfyui)
    comfyui.interrupt()
    entry = comfyui.wait(prompt_id, timeout=60)
    assert "execution_interrupted" in history_messages(entry), entry["status"]
    still = [emu.task(s["task_id"])["status"] for s in emu.submissions]
    assert "Completed" not in still, still  # the prompt ended while all four tasks were still running
    emu.processing_time = 0.5
    entry = comfyui.wait(comfyui.post_prompt(graph))
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(emu.submissions) == 4  # the re-run resumed the four tasks: nothing new was paid


@pytest.fixture(autouse=True)
def _default_cap(comfyui, emu):
    yield
    _settings(comfyui, emu, max_new_tasks=16)
