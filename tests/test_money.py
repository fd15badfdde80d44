"""Never charged twice, never blocked for nothing: ordinary faults around a submit, over real HTTP.

Each test counts what the emulator really received; a request that never left the machine must neither be
called "may have been charged" nor block a re-run, and one that may have reached the service must never be
sent twice.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from helpers import settle, wait_for  # noqa: E402

from hdredraw.engine import errors, specs
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import FAILED, PENDING, UNCERTAIN
from hdredraw.engine.spend import SpendGuard


def picture(seed=0, h=40, w=48):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


@pytest.fixture
def journal(backend, tmp_path):
    """Each test that records to a journal runs once per backend (SQLite file, PostgreSQL)."""
    return backend.make(tmp_path / "journal")


# --------------------------------------------------------------------------- deadline and cancel mid-submit

@pytest.mark.long
def test_deadline_during_a_slow_submit_records_the_task_and_the_next_run_resumes(make_settings, journal, emu,
                                                                                 fast_polls):
    emu.status_cache = 0.0
    emu.inject("submit", "late", seconds=2.0)  # created and charged at once, answered 2 s later
    c = Client(make_settings(job_timeout=0.5, read_timeout=10.0), journal=journal)
    with pytest.raises(errors.JobTimeout) as info:
        c.run("remove_fabric", picture())
    task_id = emu.submissions[0]["task_id"]
    assert info.value.task_id == task_id  # the id reaches the user with the timeout
    entry = journal.recent(1)[0]
    assert entry.status == PENDING and entry.task_id == task_id
    again = Client(make_settings(), journal=journal).run("remove_fabric", picture())
    assert again.task_id == task_id and len(emu.submissions) == 1


def test_cancel_during_a_submit_is_uncertain_and_a_late_answer_is_still_recorded(make_settings, journal, emu,
                                                                                   fast_polls):
    emu.status_cache = 0.0
    emu.inject("submit", "late", seconds=1.5)
    c = Client(make_settings(), journal=journal)
    cancel = threading.Event()
    threading.Thread(target=lambda: (wait_for(lambda: emu.submissions, "the submit"), cancel.set()),
                     daemon=True).start()
    with pytest.raises(errors.SubmitUncertain) as info:
        c.run("remove_fabric", picture(), cancel=cancel.is_set)
    assert isinstance(info.value, errors.CancelledUncertain) and "may have created" in info.value.en
    wait_for(lambda: journal.recent(1)[0].status == PENDING, "the late answer to be recorded")
    again = c.run("remove_fabric", picture())
    assert again.task_id == emu.submissions[0]["task_id"] and len(emu.submissions) == 1


def test_cancel_before_anything_is_sent_charges_nothing_and_blocks_nothing(make_settings, journal, emu, fast_polls):
    c = Client(make_settings(), journal=journal)
    with pytest.raises(errors.Cancelled) as info:
        c.run("remove_fabric", picture(), cancel=lambda: True)
    assert not isinstance(info.value, errors.SubmitUncertain)
    assert "nothing was sent" in info.value.en and "charged" not in info.value.en.replace("nothing was charged", "")
    assert not emu.submissions and journal.recent(1)[0].status == FAILED
    c.run("remove_fabric", picture())
    assert len(emu.submissions) == 1


# --------------------------------------------------------------------------- requests that never left

@pytest.mark.parametrize("base", ["api.example.com", "htp://127.0.0.1:9", "ftp://127.0.0.1:9/", "http://",
                                  "http://exa mple.com"])
def test_an_unusable_base_url_sends_nothing_and_blocks_nothing(make_settings, journal, emu, base):
    c = Client(make_settings(hdredraw_base_url=base), journal=journal)
    with pytest.raises(errors.HDRedrawError) as info:
        c.run("remove_fabric", picture())
    assert not isinstance(info.value, errors.SubmitUncertain), info.value.en
    assert "may have" not in info.value.en and "可能已" not in info.value.zh
    assert not emu.requests
    assert all(e.status != UNCERTAIN for e in journal.recent(5))


@pytest.mark.parametrize("token", ["tok\nen-123", "tök€n-12345"])
def test_a_token_http_cannot_carry_sends_nothing(make_settings, journal, emu, token):
    c = Client(make_settings(hidream_token=token), journal=journal)
    with pytest.raises(errors.NotSent) as info:
        c.run("hidream_vectorize", picture(), {"mode": "fast"})
    assert "nothing was sent" in info.value.en.lower() and info.value.free
    assert not emu.requests and journal.recent(1)[0].status == FAILED


def test_a_text_that_cannot_be_encoded_is_refused_before_anything(make_settings, journal, emu):
    c = Client(make_settings(), journal=journal)
    with pytest.raises(errors.ValidationError):
        c.run("edit_image", picture(), {"prompt": "red \ud800 dress"})
    assert not emu.requests and not journal.recent(5)


def test_a_web_server_answering_501_charged_nothing_and_a_rerun_is_sent(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    emu.inject("submit", "501")
    c = Client(make_settings(), journal=journal)
    with pytest.raises(errors.ServiceError) as info:
        c.run("remove_fabric", picture())
    assert "nothing was charged" in info.value.en.lower() and journal.recent(1)[0].status == FAILED
    c.run("remove_fabric", picture())
    assert len(emu.submissions) == 1


@pytest.mark.parametrize("variation", [2**70, -1, 1.5, "x", True])
def test_an_impossible_variation_is_a_clear_error(make_settings, journal, emu, variation):
    c = Client(make_settings(), journal=journal)
    with pytest.raises(errors.ValidationError) as info:
        c.run("remove_fabric", picture(), variation=variation)
    assert "variation" in info.value.en and not emu.requests


# --------------------------------------------------------------------------- identical images, spend guard

def test_identical_images_in_one_batch_are_one_task(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    c = Client(make_settings(max_new_tasks=2), journal=journal)
    a, b = picture(1), picture(2)
    out = c.run_many("remove_fabric", [a, a, b, a, b], {})
    assert all(not isinstance(o, errors.HDRedrawError) for o in out), out
    assert len(emu.submissions) == 2
    assert out[0].task_id == out[1].task_id == out[3].task_id != out[2].task_id == out[4].task_id
    assert out[1].images == out[0].images and "#1" in out[1].notes[-1].en


def test_five_identical_images_cost_one_task_under_a_cap_of_one(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    c = Client(make_settings(max_new_tasks=1), journal=journal)
    out = c.run_many("remove_fabric", [picture(3)] * 5, {})
    assert len(emu.submissions) == 1 and len({o.task_id for o in out}) == 1


def test_identical_images_without_a_journal_are_one_task(make_settings, emu, fast_polls):
    emu.status_cache = 0.0
    out = Client(make_settings()).run_many("remove_fabric", [picture(4)] * 3, {})
    assert len(emu.submissions) == 1 and len({o.task_id for o in out}) == 1


def test_the_spend_guard_counts_across_calls_of_one_scope(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    c = Client(make_settings(max_new_tasks=2), journal=journal)
    guard = SpendGuard(2)
    for seed in (5, 6):  # a list input: one node execution per item
        c.run_many("remove_fabric", [picture(seed)], {}, guard=guard)
    with pytest.raises(errors.SpendGuardError) as info:
        c.run_many("remove_fabric", [picture(7)], {}, guard=guard)
    assert "already started" in info.value.en and len(emu.submissions) == 2
    c.run_many("remove_fabric", [picture(5)], {}, guard=guard)  # reuse is free: allowed
    with pytest.raises(errors.SpendGuardError):
        c.run("remove_fabric", picture(8), guard=guard)
    assert len(emu.submissions) == 2


def test_a_refused_submit_gives_its_spend_slot_back(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    emu.inject("submit", "501")
    c = Client(make_settings(), journal=journal)
    guard = SpendGuard(1)
    with pytest.raises(errors.ServiceError):
        c.run("remove_fabric", picture(9), guard=guard)
    c.run("remove_fabric", picture(9), guard=guard)
    assert len(emu.submissions) == 1


# --------------------------------------------------------------------------- task ids from users and services

@pytest.mark.parametrize("bad", ["x/../../../../tmp/pwned", "..", "a b", "abc\\..\\x", "-rf", "", "x" * 200,
                                 "<svg>", "http://evil/x"])
def test_task_ids_that_are_not_ids_are_refused(bad):
    with pytest.raises(errors.ValidationError):
        specs.check_task_id(bad)


def test_documented_task_ids_are_accepted():
    for good in ("b6eec858-bc2d-11ee-8db3-fa1d95e61235", "3f2a9c0d8e7b4a1f9c2d3e4f5a6b7c8d", "task_1"):
        assert specs.check_task_id(good) == good


def test_fetch_refuses_a_path_as_task_id(make_settings, emu):
    with pytest.raises(errors.ValidationError):
        Client(make_settings()).fetch("x/../../../../tmp/pwned")
    assert not emu.requests


# --------------------------------------------------------------------------- the same, through the node classes

def _node_call(node_id, image, **overrides):
    from hdredraw import nodes

    cls = nodes.NODE_CLASS_MAPPINGS[node_id]
    values = {name: spec[1]["default"] for name, spec in cls.INPUT_TYPES()["required"].items()
              if isinstance(spec[0], list) or spec[0] in ("FLOAT", "INT", "BOOLEAN", "STRING")}
    values.update(overrides)
    return settle(getattr(cls(), cls.FUNCTION)(image=image, unique_id="7", **values))


def test_a_list_input_cannot_slip_past_the_spend_guard(comfy, service_env, monkeypatch):
    """ComfyUI runs a node once per list item (RebatchImages batch_size=1): the cap is per queued prompt."""
    torch = pytest.importorskip("torch")
    from hdredraw.nodes import runner

    monkeypatch.setenv("HDREDRAW_MAX_NEW_TASKS", "2")
    server = comfy.modules["server"].PromptServer.instance
    server.last_prompt_id = "prompt-1"
    items = [torch.from_numpy(picture(20 + i))[None] for i in range(3)]
    for item in items[:2]:
        _node_call("HDRedraw_RemoveFabric", item)
    with pytest.raises(errors.SpendGuardError):
        _node_call("HDRedraw_RemoveFabric", items[2])
    assert len(service_env.submissions) == 2
    server.last_prompt_id = "prompt-2"  # the next queued prompt has its own allowance
    _node_call("HDRedraw_RemoveFabric", items[2])
    assert len(service_env.submissions) == 3 and "prompt-1" in runner._guards


def test_identical_images_in_a_node_batch_are_one_task(comfy, service_env, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("HDREDRAW_MAX_NEW_TASKS", "1")
    image = torch.from_numpy(picture(30))[None].repeat(5, 1, 1, 1)
    out = _node_call("HDRedraw_RemoveFabric", image)
    assert len(service_env.submissions) == 1 and out["result"][0].shape[0] == 5
    assert len(set(out["ui"]["task_ids"])) == 1


def test_the_cli_refuses_a_path_as_task_id_and_writes_nothing(emu, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "out"
    (out / "task_x").mkdir(parents=True)
    env = {**os.environ, "HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key,
           "HDREDRAW_DATA_DIR": str(tmp_path / "data")}
    before = set(tmp_path.rglob("*"))
    done = subprocess.run([sys.executable, str(root / "tools" / "dev.py"), "fetch", "x/../../../../tmp/pwned",
                           "-o", str(out)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "task id" in done.stderr
    assert not emu.requests and not (Path("/tmp") / "pwned.png").exists()
    assert {p for p in tmp_path.rglob("*") if "data" not in p.parts} == {p for p in before if "data" not in p.parts}
