"""Robustness: the fault matrix, a soak with random faults, bad inputs, and secrets that never leak.

The fault matrix and the soak run once per journal backend (`backend`: SQLite file, PostgreSQL).
"""

from __future__ import annotations

import gc
import logging
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from helpers import finishes, settle  # noqa: E402

from hdredraw.engine import errors
from hdredraw.engine.jobs import Client

PHASES = ("submit", "status", "download")
FAULTS = ("500", "502", "503", "429", "hang", "drop", "malformed", "truncate")


def picture(seed=0, h=32, w=40):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0


# --------------------------------------------------------------------------- fault matrix

# What the client must do for each submit fault: complete (retry was safe) or refuse to guess.
SUBMIT_EXPECT = {"429": "ok", "500": "uncertain", "502": "uncertain", "503": "uncertain", "hang": "uncertain",
                 "drop": "uncertain", "malformed": "uncertain", "truncate": "uncertain"}


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("fault", FAULTS)
def test_fault_matrix(emu, make_settings, tmp_path, fast_polls, phase, fault, backend):
    emu.status_cache = 0.0
    emu.processing_time = 0.1
    deadline = 8.0
    client = Client(make_settings(read_timeout=0.5, job_timeout=deadline), journal=backend.make(tmp_path / "j"))
    emu.inject(phase, fault, count=2 if phase != "submit" else 1, retry_after=1, seconds=1.2)
    try:  # past the 8 s deadline the run raises JobTimeout, which fails the test; a run that ignored it would hang
        result = finishes(lambda: client.run("seamless", picture(), {}), "a run past its deadline")
        outcome = "ok"
    except errors.SubmitUncertain as exc:
        outcome, result = "uncertain", exc
    expected = SUBMIT_EXPECT[fault] if phase == "submit" else "ok"
    assert outcome == expected, (phase, fault, result)
    if outcome == "ok":
        assert result.images and result.grid and result.image_1x and result.task_id
        assert result.task_id == emu.submissions[-1]["task_id"]
    else:
        assert "charged" in result.en and "扣费" in result.zh
        time.sleep(1.3 if fault == "hang" else 0.0)
        entry = client.journal.recent(1)[0]
        assert entry.status == "uncertain"  # the attempt is kept, never lost
    created = len(emu.submissions)
    assert created <= 1, "double submission"
    # a second run never adds a submission: it reuses, or refuses to resend an uncertain one
    try:
        client.run("seamless", picture(), {})
    except errors.SubmitUncertain:
        pass
    assert len(emu.submissions) == created
    client.close()


def test_status_fault_after_the_task_exists_keeps_the_task_id(emu, make_settings, tmp_path, fast_polls, backend):
    emu.status_cache = 0.0
    c = Client(make_settings(job_timeout=2.0), journal=backend.make(tmp_path / "j"))
    c.transport("hdredraw").status_retry.cap = 0.2
    emu.inject("status", "503", count=100)
    with pytest.raises((errors.NetworkError, errors.JobTimeout)) as info:
        c.run("face_enhance", picture(), {})
    assert info.value.task_id == emu.submissions[0]["task_id"]
    assert c.journal.recent(1)[0].status == "pending"


# --------------------------------------------------------------------------- soak

@pytest.mark.long
def test_soak_200_tasks_with_random_faults(emu, comfy, service_env, monkeypatch, backend):
    torch = pytest.importorskip("torch")
    from hdredraw import nodes
    from hdredraw.nodes import runner

    monkeypatch.setenv("HDREDRAW_READ_TIMEOUT", "0.4")
    monkeypatch.setenv("HDREDRAW_MAX_NEW_TASKS", "300")
    emu.processing_time = 0.02
    rng = random.Random(11)
    kinds = ["500", "503", "429", "drop", "malformed", "truncate", "hang"]
    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_RemoveWatermark"]()
    images = torch.rand(200, 8, 8, 3, generator=torch.Generator().manual_seed(3))
    threads_before, fds_before = threading.active_count(), open_fds()
    outcomes: dict[int, str] = {}
    lock = threading.Lock()

    def worker(indices):
        for i in indices:
            if rng.random() < 0.3:  # ≈ 10% of the ~4 requests a task makes
                emu.inject(rng.choice(["submit", "status", "download"]), rng.choice(kinds), retry_after=0,
                           seconds=0.6)
            try:
                out = settle(node.execute(image=images[i:i + 1], unique_id=str(i)))
                kind = "result" if out[0].shape == (1, 8, 8, 3) else "bad"
            except errors.HDRedrawError as exc:
                kind = "error:" + exc.code if str(exc) else "silent"
            with lock:
                outcomes[i] = kind

    workers = [threading.Thread(target=worker, args=(range(k, 200, 4),)) for k in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    assert len(outcomes) == 200 and "bad" not in outcomes.values() and "silent" not in outcomes.values()
    results = sum(1 for v in outcomes.values() if v == "result")
    assert results >= 150, outcomes
    assert len(emu.submissions) <= 200  # never two tasks for one image
    assert set(v for v in outcomes.values() if v != "result") <= {"error:submit_uncertain", "error:network"}
    # every task accounted for: each paid task is in the journal (or is an attempt whose answer was lost),
    # each result is a done row, and no request has two live rows
    rows = runner.get_client().journal.recent(1000)
    known = {r.task_id for r in rows if r.task_id}
    unknown_ids = [s["task_id"] for s in emu.submissions if s["task_id"] not in known]
    assert len(unknown_ids) <= sum(1 for r in rows if r.status == "uncertain" and not r.task_id)
    assert sum(1 for r in rows if r.status == "done") == results
    assert max(Counter(r.fingerprint for r in rows if r.status != "failed").values()) == 1
    runner.get_client().close()
    gc.collect()
    for _ in range(50):  # server-side handler threads end once their connections close
        if threading.active_count() <= threads_before and open_fds() <= fds_before:
            break
        time.sleep(0.1)
    gc.collect()  # connections dropped mid-request are freed with their exception's traceback
    assert threading.active_count() <= threads_before
    assert open_fds() <= fds_before


# --------------------------------------------------------------------------- bad inputs

def test_tiny_and_huge_images(comfy, service_env):
    torch = pytest.importorskip("torch")
    from hdredraw import nodes

    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]()
    tiny = settle(node.execute(image=torch.rand(1, 1, 1, 3)))[0]
    assert tiny.shape[1:3] == (1, 1)
    huge = torch.empty((1, 16384, 16384, 3))  # never touched: refused from its shape
    with pytest.raises(errors.ValidationError, match="16384×16384"):
        settle(node.execute(image=huge))
    assert len(service_env.submissions) == 1


def test_oversized_result_is_refused_with_the_cap_named(emu, make_settings, fast_polls):
    emu.status_cache = 0.0
    c = Client(make_settings(max_result_mb=1))
    noisy = np.random.default_rng(0).random((400, 400, 3)).astype(np.float32)
    with pytest.raises(errors.ResultError, match="1 MB") as info:
        c.run("redraw", noisy, {"upscale": 3})
    assert info.value.task_id == emu.submissions[0]["task_id"]


def test_result_url_that_is_not_http_is_never_opened(client):
    ctx = client.context()
    for url in ("file:///etc/passwd", "ftp://example.com/x.png", "javascript:alert(1)"):
        with pytest.raises(errors.ResultError, match="not http"):
            client.transport("hdredraw").download(url, ctx, max_bytes=1000)


def test_unicode_and_very_long_prompts(client, emu):
    prompt = ("把背景换成水彩风格,保留人物 🎨 " * 400)[:8000]
    client.run("edit_image", picture(), {"prompt": prompt, "model_version": "v2"})
    assert emu.submissions[0]["fields"]["prompt"] == prompt
    with pytest.raises(errors.ValidationError):
        client.run("edit_image", picture(), {"prompt": "a\x00b"})


# --------------------------------------------------------------------------- secrets

KEY = "HDKEY-5f3a9c1e77d24b0e"
TOKEN = "HDTOKEN-a8b7c6d5e4f30211"


@pytest.mark.long
def test_secrets_never_leak_anywhere(emu, comfy, monkeypatch, tmp_path, fast_polls):
    torch = pytest.importorskip("torch")
    from hdredraw import nodes
    from hdredraw.engine import config

    emu.status_cache = 0.0
    emu.add_account(KEY, 1000, 1000)
    emu.add_token(TOKEN)
    monkeypatch.setenv("HDREDRAW_BASE_URL", emu.base_url)
    monkeypatch.setenv("HIDREAM_BASE_URL", emu.hidream_base_url)
    config.save({"hdredraw_user_key": KEY, "hidream_token": TOKEN})  # through the config file this time
    logging.getLogger().setLevel(logging.DEBUG)
    records: list[str] = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    grab = Grab(logging.DEBUG)
    logging.getLogger().addHandler(grab)
    texts: list[str] = []
    image = torch.rand(1, 24, 24, 3)
    try:
        for node_id, cls in nodes.NODE_CLASS_MAPPINGS.items():
            node = cls()
            if node_id == "HDRedraw_FetchTask":
                out = settle(node.execute(task_id=emu.submissions[0]["task_id"], service="HD Redraw"))
            elif node_id == "HDRedraw_RenderSVG":
                out = settle(node.execute(svg_text='<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>'))
            else:
                extra = {"prompt": "x"} if node_id == "HDRedraw_EditImage" else {}
                extra |= {"vector_switch": True} if node_id == "HDRedraw_Redraw" else {}
                out = settle(node.execute(image=image, unique_id="1", **extra))
            texts.extend(str(o) for o in out if isinstance(o, str))
        failures = [
            lambda: emu.inject("submit", "drop_after_accept"),
            lambda: emu.inject("status", "malformed", count=20),
            lambda: emu.fail_next("failed"),
            lambda: emu.fail_next("moderation"),
        ]
        for arm in failures:
            arm()
            for node_id in ("HDRedraw_RemoveFabric", "HDRedraw_HiDreamVectorize"):
                try:
                    settle(nodes.NODE_CLASS_MAPPINGS[node_id]().execute(image=torch.rand(1, 8, 8, 3), unique_id="2",
                                                                        variation=random.randint(1, 10**9)))
                except errors.HDRedrawError as exc:
                    texts.append(str(exc) + repr(exc.args))
            emu.reset()
            emu.add_account(KEY, 1000, 1000)
            emu.add_token(TOKEN)
        monkeypatch.setenv("HDREDRAW_USER_KEY", KEY + "-wrong")
        try:
            settle(nodes.NODE_CLASS_MAPPINGS["HDRedraw_FaceEnhance"]().execute(image=image, unique_id="3", variation=5))
        except errors.HDRedrawError as exc:
            texts.append(str(exc))
    finally:
        logging.getLogger().removeHandler(grab)
        logging.getLogger().setLevel(logging.WARNING)
    haystacks = ["\n".join(records), "\n".join(texts), "\n".join(t for _, t in comfy.texts),
                 repr(comfy.events)]
    for path in Path(tmp_path).rglob("*"):
        if path.is_file() and path.name != "hdredraw-config.json":
            haystacks.append(path.read_bytes().decode("latin-1"))
    for types in (cls.INPUT_TYPES() for cls in nodes.NODE_CLASS_MAPPINGS.values()):
        haystacks.append(repr(types))
    blob = "\n".join(haystacks)
    assert len(records) > 20 and texts
    for secret in (KEY, TOKEN, KEY[6:], TOKEN[8:]):
        assert secret not in blob
    assert oct(os.stat(config.config_path()).st_mode & 0o777) == "0o600"
