"""The job runner against the built-in emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest
from helpers import finishes, wait_for

from hdredraw.engine import codecs, errors, services, specs
from hdredraw.engine.jobs import Client
from hdredraw.engine.redact import register_secret
from hdredraw.engine.request import TaskRequest
from hdredraw.engine.transport import Context


def picture(h=48, w=64, alpha=False, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x / w, y / h, 0.5 + 0.3 * np.sin(x / 5.0)], -1) + rng.normal(0, 0.02, (h, w, 3))
    if alpha:
        a = ((x - w / 2) ** 2 + (y - h / 2) ** 2 < (min(h, w) / 3) ** 2).astype(np.float32)
        rgb = np.concatenate([rgb, a[..., None]], -1)
    return np.clip(rgb, 0, 1).astype(np.float32)


def decode(data: bytes) -> np.ndarray:
    return codecs.decode_image(data)


# --------------------------------------------------------------------------- every operation

CASES = {
    "redraw": {"upscale": 2.0, "vector_switch": True, "auto_generate_prompt": True, "prompt": "红色花朵 flowers"},
    "vectorize": {"color_count": 4},
    "face_enhance": {},
    "seamless": {"direction": 2, "fit": 0.4, "expand_top": 0.1},
    "remove_fabric": {},
    "edit_image": {"prompt": "将这张图片转换为水彩画风格", "model_version": "v2"},
    "extract_pattern": {"aspect_ratio": "16:9"},
    "remove_diamonds": {},
    "expand_image": {"expand_left": 0.25, "expand_top": 0.1, "prompt": "延续原图的风格"},
    "remove_watermark": {},
}


@pytest.mark.parametrize("op_id", sorted(CASES))
def test_every_operation_sends_the_right_fields_and_decodes(client, emu, op_id):
    op = specs.get(op_id)
    result = client.run(op_id, picture(), CASES[op_id])
    assert len(emu.submissions) == 1
    sent = emu.submissions[0]
    assert sent["endpoint"] == op.endpoint and sent["task_id"] == result.task_id
    assert sent["fields"] == op.wire_fields(op.validate(CASES[op_id]))
    assert "user_key" not in sent["fields"]
    if op_id == "vectorize":
        assert result.vector.startswith(b"%!PS-Adobe") and decode(result.images[0]).shape[:2] == (48, 64)
        return
    assert result.images and all(decode(b).ndim == 3 for b in result.images)
    first = decode(result.images[0])
    if op_id == "redraw":
        assert first.shape[:2] == (96, 128)
        assert result.vector.startswith(b"%!PS-Adobe") and result.prompt
    if op_id == "seamless":
        assert result.grid and result.image_1x
        one = decode(result.image_1x)
        assert decode(result.grid).shape[1] == 2 * one.shape[1]  # left-right: 1 row × 2 columns
    if op_id == "extract_pattern":
        sizes = {decode(b).shape[:2] for b in result.images}
        assert len(result.images) == 2 and len(sizes) == 2
    if op_id == "expand_image":
        assert first.shape[:2] == (round(48 * 1.1), round(64 * 1.25))
    assert result.remaining_count == 99


def test_alpha_goes_up_and_comes_back(client, emu):
    result = client.run("remove_watermark", picture(alpha=True), {})
    out = decode(result.images[0])
    assert out.shape[2] == 4 and out[..., 3].min() == 0 and out[..., 3].max() == 255
    assert emu.submissions[0]["content_type"] == "image/png"


def test_progress_reports_stages_task_id_and_balance(client, emu):
    emu.processing_time = 0.8
    seen = []
    result = client.run("face_enhance", picture(), {}, on_progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "submitting" and stages[-1] == "done" and "downloading" in stages
    assert any(p.task_id == result.task_id for p in seen)
    assert seen[-1].remaining_count == 99 and seen[-1].fraction == 1.0
    assert result.task_id in seen[-1].text("en") and "剩余" in seen[-1].text("zh")


def test_batch_runs_concurrently_in_input_order(client, emu):
    emu.processing_time = 1.5
    images = [picture(h=20 + 10 * i, w=30) for i in range(3)]
    out = client.run_many("face_enhance", images, {}, concurrency=3)
    assert [decode(r.images[0]).shape[0] for r in out] == [20, 30, 40]
    tasks = [emu.task(s["task_id"]) for s in emu.submissions]
    assert len(tasks) == 3
    assert max(t["created"] for t in tasks) < min(t["done_at"] for t in tasks)  # all three ran at once


# --------------------------------------------------------------------------- documented errors

def test_wrong_key_is_an_auth_error(emu, fast_polls, make_settings):
    c = Client(make_settings(hdredraw_user_key="not-a-key"))
    with pytest.raises(errors.AuthError) as info:
        c.run("face_enhance", picture(), {})
    assert info.value.upstream == "账户不存在" and "HDREDRAW_USER_KEY" in info.value.en
    assert emu.submissions == []


def test_no_balance(emu, fast_polls, make_settings):
    emu.add_account("broke-key", 0, 0)
    c = Client(make_settings(hdredraw_user_key="broke-key"))
    with pytest.raises(errors.BalanceError) as info:
        c.run("remove_fabric", picture(), {})
    assert "账户剩余次数不足" in str(info.value) and "Top up" in info.value.en
    assert emu.submissions == []


def test_money_is_used_when_count_runs_out(emu, fast_polls, make_settings):
    emu.add_account("money-key", 0, 5)
    c = Client(make_settings(hdredraw_user_key="money-key"))
    result = c.run("remove_fabric", picture(), {})
    assert result.remaining_count == 0 and result.remaining_money == 4


def test_server_side_parameter_and_submit_errors_are_mapped(client, emu):
    op = specs.get("expand_image")
    ctx = client.context()
    upload = client.prepare(op, picture())
    values = dict(op.validate({}), expand_top=0.5)  # bypass local validation to see the service's answer
    with pytest.raises(errors.ParameterError) as info:
        client.submit(TaskRequest.of(op, values, upload, 0, "test"), ctx)
    assert "expand_top" in info.value.upstream
    garbage = codecs.Encoded(b"\x89PNG\r\n\x1a\nnot really", "image/png", "x.png", 1, 1)
    with pytest.raises(errors.SubmitRejected) as info:
        client.submit(TaskRequest.of(op, op.validate({}), garbage, 0, "test"), client.context())
    assert info.value.upstream.startswith("任务提交失败")
    assert emu.submissions == []


def test_oversize_file_is_refused_by_the_service(client, emu):
    op = specs.get("remove_watermark")
    big = codecs.Encoded(codecs.encode_png(picture()) + b"\0" * (16 * 1024 * 1024), "image/png", "big.png", 64, 48)
    with pytest.raises(errors.InputTooLargeError) as info:
        client.submit(TaskRequest.of(op, op.validate({}), big, 0, "test"), client.context())
    assert info.value.upstream == "文件大小不能超过16MB"


def test_unknown_task(client, emu):
    with pytest.raises(errors.TaskNotFound) as info:
        client.fetch("no-such-task")
    assert info.value.task_id == "no-such-task" and "任务未找到" in info.value.upstream


def test_failed_task_keeps_task_id(client, emu):
    emu.fail_next("failed")
    with pytest.raises(errors.TaskFailed) as info:
        client.run("remove_diamonds", picture(), {})
    assert info.value.task_id == emu.submissions[0]["task_id"]


def test_local_validation_costs_nothing(client, emu):
    with pytest.raises(errors.ValidationError):
        client.run("redraw", picture(), {"upscale": 9})
    with pytest.raises(errors.ValidationError):
        client.run_many("seamless", [picture()] * 3, {"fit": 0.05})
    assert emu.requests == []


def test_missing_base_url_fails_before_any_request(emu, make_settings):
    c = Client(make_settings(hdredraw_base_url=""))
    with pytest.raises(errors.ConfigError, match="HDREDRAW_BASE_URL"):
        c.run("face_enhance", picture(), {})


# --------------------------------------------------------------------------- retries and the never-twice rule

@pytest.mark.parametrize("kind", ["500", "502", "503", "drop", "malformed", "truncate"])
def test_status_faults_are_retried(client, emu, kind):
    emu.inject("status", kind, count=2)
    result = client.run("face_enhance", picture(), {})
    assert result.images and len(emu.submissions) == 1


@pytest.mark.timing
def test_status_429_honours_retry_after(client, emu):
    emu.inject("status", "429", count=1, retry_after=1)
    client.run("face_enhance", picture(), {})
    polls = [r for r in emu.requests if r["phase"] == "status"]
    refused = next(i for i, r in enumerate(polls) if r["fault"] == "429")
    assert polls[refused + 1]["time"] - polls[refused]["time"] >= 1.0  # the next ask came after Retry-After


@pytest.mark.parametrize("kind", ["500", "503", "drop", "malformed", "truncate"])
def test_download_faults_are_retried(client, emu, kind):
    emu.inject("download", kind, count=2)
    result = client.run("seamless", picture(), {})
    assert decode(result.images[0]).shape[0] > 0 and result.grid and result.image_1x


def test_download_that_never_heals_is_a_clear_error(emu, fast_polls, make_settings):
    c = Client(make_settings())
    c.transport("hdredraw").status_retry.attempts = 3
    c.transport("hdredraw").status_retry.cap = 0.1
    emu.inject("download", "malformed", count=10)
    with pytest.raises(errors.NetworkError) as info:
        c.run("face_enhance", picture(), {})
    assert info.value.task_id == emu.submissions[0]["task_id"]


@pytest.mark.parametrize("kind,created", [("500", 0), ("503", 0), ("drop_after_accept", 1), ("malformed", 1)])
def test_ambiguous_submit_is_never_retried(client, emu, kind, created):
    emu.inject("submit", kind)
    with pytest.raises(errors.SubmitUncertain) as info:
        client.run("face_enhance", picture(), {})
    assert "charged" in info.value.en and "扣费" in info.value.zh and "NOT retried" in info.value.en
    submits = [r for r in emu.requests if r["phase"] == "submit"]
    assert len(submits) == 1 and len(emu.submissions) == created


def test_submit_read_timeout_is_never_retried(emu, fast_polls, make_settings):
    c = Client(make_settings(read_timeout=0.5))
    emu.inject("submit", "hang", seconds=1.5)
    with pytest.raises(errors.SubmitUncertain):
        c.run("face_enhance", picture(), {})
    wait_for(lambda: len(emu.submissions) == 1, "the slow server to create the task")
    assert len([r for r in emu.requests if r["phase"] == "submit"]) == 1 and len(emu.submissions) == 1


def test_submit_429_is_retried_because_nothing_was_processed(client, emu):
    emu.inject("submit", "429", retry_after=0)
    result = client.run("face_enhance", picture(), {})
    assert len(emu.submissions) == 1 and result.task_id == emu.submissions[0]["task_id"]


def test_connection_refused_is_retried_then_explained(emu, make_settings):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = Client(make_settings(hdredraw_base_url=f"http://127.0.0.1:{port}"))
    c.transport("hdredraw").retry.attempts = 3
    c.transport("hdredraw").retry.cap = 0.05
    with pytest.raises(errors.NetworkError) as info:
        c.run("face_enhance", picture(), {})
    assert "nothing was sent" in info.value.en and "3 attempts" in info.value.en


# --------------------------------------------------------------------------- rhythm, cancel, deadline

@pytest.mark.long
@pytest.mark.timing
def test_polls_follow_the_three_second_cache(emu, make_settings):
    emu.processing_time = 5.0
    c = Client(make_settings())
    task = c.run("face_enhance", picture(), {})
    polls = [r["time"] for r in emu.requests if r["phase"] == "status"]
    gaps = np.diff(polls)
    assert len(polls) == emu.status_polls(task.task_id) and len(polls) <= 4
    assert gaps.min() >= 3.0  # never inside the service's cache, which would only repeat the last answer
    assert len([t for t in polls if t >= emu.task(task.task_id)["done_at"]]) <= 1  # seen at the next poll


def test_a_long_wait_answers_cancel():
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()  # lands inside the 600 s wait
    with pytest.raises(errors.Cancelled):
        finishes(lambda: Context(cancel=stop.is_set).sleep(600), "a cancelled 600 s wait")


def test_cancel_mid_poll_stops_at_once(client, emu, monkeypatch):
    """Polls up to 600 s apart and a 600 s task: only answering Cancel while waiting to poll ends the run."""
    monkeypatch.setattr(services.get("hdredraw"), "poll_interval", 600.0)
    emu.processing_time = 600
    stop = threading.Event()

    def on_progress(p):
        if p.stage == "queued" and not stop.is_set():  # submitted: cancel once the wait has begun
            threading.Timer(0.2, stop.set).start()

    with pytest.raises(errors.Cancelled) as info:
        finishes(lambda: client.run("face_enhance", picture(), {}, cancel=stop.is_set, on_progress=on_progress),
                 "the cancelled run")
    task_id = emu.submissions[0]["task_id"]
    assert info.value.task_id == task_id and "Fetch Task" in info.value.en
    assert emu.status_polls(task_id) <= 1 and emu.task(task_id)["status"] != "Completed"


def test_cancel_during_a_hanging_request(emu, make_settings):
    """A status request that hangs for 600 s, within the read timeout and the deadline, is abandoned on Cancel."""
    c = Client(make_settings(read_timeout=600, job_timeout=3600))
    emu.inject("status", "hang", seconds=600)
    hanging = lambda: any(r["fault"] == "hang" for r in emu.requests)  # noqa: E731
    with pytest.raises(errors.Cancelled):
        finishes(lambda: c.run("face_enhance", picture(), {}, cancel=hanging), "the cancelled run")
    c.close()


def test_deadline_keeps_the_task_id(emu, fast_polls, make_settings):
    emu.processing_time = 30
    c = Client(make_settings(job_timeout=1.5))
    with pytest.raises(errors.JobTimeout) as info:
        c.run("face_enhance", picture(), {})
    assert info.value.task_id == emu.submissions[0]["task_id"]
    assert "HDREDRAW_TIMEOUT" in info.value.en


def test_fetch_returns_a_finished_task_again_without_paying(client, emu):
    first = client.run("seamless", picture(), {})
    again = client.fetch(first.task_id)
    assert again.images == first.images and again.grid == first.grid
    assert len(emu.submissions) == 1


# --------------------------------------------------------------------------- 16 MB fallback end to end

@pytest.mark.long
def test_oversized_png_goes_as_jpeg_and_says_so(client, emu):
    rng = np.random.default_rng(3)
    noisy = rng.integers(0, 256, (2400, 2400, 3), dtype=np.uint8)
    result = client.run("face_enhance", noisy, {})
    sent = emu.submissions[0]
    assert sent["content_type"] == "image/jpeg" and sent["file_size"] <= 16 * 1024 * 1024
    assert result.notes and "JPEG" in result.notes[0].en
    assert decode(result.images[0]).shape[:2] == (2400, 2400)


# --------------------------------------------------------------------------- HiDream

def test_hidream_vectorize_reports_real_progress(client, emu):
    emu.processing_time = 1.0
    seen = []
    result = client.run("hidream_vectorize", picture(), {"mode": "slow"}, on_progress=seen.append)
    assert result.svgs and b"<svg" in result.svgs[0] and b"<path" in result.svgs[0]
    exact = [p.fraction for p in seen if p.exact]
    assert exact and all(0 <= f < 1 for f in exact)
    assert emu.submissions[0]["fields"]["mode"] == "slow"
    assert client.fetch(result.task_id, service="hidream").svgs == result.svgs


def test_hidream_moderation_and_failure(client, emu):
    emu.fail_next("moderation")
    with pytest.raises(errors.ModerationRejected) as info:
        client.run("hidream_vectorize", picture(), {"mode": "fast"})
    assert info.value.task_id
    emu.fail_next("failed")
    with pytest.raises(errors.TaskFailed):
        client.run("hidream_vectorize", picture(), {"mode": "fast"})


def test_hidream_bad_token(emu, fast_polls, make_settings):
    c = Client(make_settings(hidream_token="expired-token-xyz"))
    with pytest.raises(errors.AuthError) as info:
        c.run("hidream_vectorize", picture(), {"mode": "fast"})
    assert "HIDREAM_API_TOKEN" in info.value.en
    assert "expired-token-xyz" not in str(info.value)


# --------------------------------------------------------------------------- secrets

def test_keys_never_appear_in_logs_or_errors(emu, fast_polls, caplog, make_settings):
    key, token = "sk-live-ABCDEF123456", "hd-token-ZYXWVU987654"
    emu.add_account(key, 1, 0)
    register_secret(key)
    register_secret(token)
    caplog.set_level(logging.DEBUG)
    c = Client(make_settings(hdredraw_user_key=key, hidream_token=token))
    texts = []
    c.run("face_enhance", picture(), {})
    for attempt in (lambda: c.run("face_enhance", picture(), {}),  # no balance left
                    lambda: c.fetch("missing"),
                    lambda: Client(make_settings(hdredraw_user_key=key + "x")).run("face_enhance", picture(), {}),
                    lambda: Client(make_settings(hidream_token=token + "x")).run(
                        "hidream_vectorize", picture(), {"mode": "fast"})):
        with pytest.raises(errors.HDRedrawError) as info:
            attempt()
        texts.append(str(info.value) + repr(info.value.args))
    emu.inject("submit", "drop_after_accept")
    with pytest.raises(errors.SubmitUncertain) as info:
        c.run("hidream_vectorize", picture(), {"mode": "fast"})
    texts.append(str(info.value))
    blob = caplog.text + "\n".join(texts)
    assert key not in blob and token not in blob
    assert "ABCDEF123456" not in blob and "ZYXWVU987654" not in blob
