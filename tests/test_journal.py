"""Never pay twice, never lose a result: proven by counting the emulator's recorded submissions.

Every test that takes `journal` or `backend` runs once per journal backend (SQLite file, PostgreSQL).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from commands import run_hdredraw, start_python
from helpers import settle  # noqa: E402

from hdredraw.engine import codecs, config, errors
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import DONE, PENDING, UNCERTAIN, Journal

ROOT = Path(__file__).resolve().parents[1]


def picture(seed=0, h=40, w=48):
    rng = np.random.default_rng(seed)
    return rng.random((h, w, 3)).astype(np.float32)


@pytest.fixture
def journal(backend, tmp_path):
    return backend.make(tmp_path / "journal")


@pytest.fixture
def jclient(make_settings, journal, fast_polls, emu):
    emu.status_cache = 0.0
    c = Client(make_settings(), journal=journal)
    yield c
    c.close()


def test_second_run_reuses_and_says_so(jclient, emu):
    first = jclient.run("seamless", picture(), {"direction": 1})
    seen = []
    second = jclient.run("seamless", picture(), {"direction": 1}, on_progress=seen.append)
    assert len(emu.submissions) == 1
    assert second.images == first.images and second.grid == first.grid and second.task_id == first.task_id
    assert "Reused" in second.notes[-1].en and seen[-1].reused and first.task_id in seen[-1].text()


@pytest.mark.long
def test_rerun_in_a_new_process_submits_nothing(emu, tmp_path, backend):
    (tmp_path / "a.png").write_bytes(codecs.encode_png(picture(1)))
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key,
           "HDREDRAW_DATA_DIR": str(tmp_path / "data")}
    emu.processing_time = 0.2
    outs = []
    for folder in ("one", "two"):
        out = run_hdredraw(["run", "remove_fabric", str(tmp_path / "a.png"), "-o", str(tmp_path / folder)], env=env)
        assert out.returncode == 0, out.stderr
        outs.append(out)
    assert len(emu.submissions) == 1
    assert (tmp_path / "one" / "a_remove_fabric.png").read_bytes() == (tmp_path / "two" / "a_remove_fabric.png"
                                                                       ).read_bytes()
    listing = run_hdredraw(["tasks"], env=env, timeout=60).stdout
    assert "remove_fabric" in listing and "done" in listing and emu.submissions[0]["task_id"] in listing


@pytest.mark.long
def test_cancel_mid_poll_then_rerun_resumes_without_paying(jclient, emu, journal):
    emu.processing_time = 2.0
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    with pytest.raises(errors.Cancelled):
        jclient.run("face_enhance", picture(), {}, cancel=stop.is_set)
    entry = journal.recent(1)[0]
    assert entry.status == PENDING and entry.task_id == emu.submissions[0]["task_id"]
    seen = []
    result = jclient.run("face_enhance", picture(), {}, on_progress=seen.append)
    assert len(emu.submissions) == 1 and result.task_id == entry.task_id
    assert any("Resuming" in p.note for p in seen)
    assert journal.recent(1)[0].status == DONE


@pytest.mark.long
def test_timeout_then_rerun_resumes(make_settings, journal, emu, fast_polls):
    emu.status_cache = 0.0
    emu.processing_time = 2.5
    with pytest.raises(errors.JobTimeout):
        Client(make_settings(job_timeout=1.0), journal=journal).run("face_enhance", picture(), {})
    result = Client(make_settings(), journal=journal).run("face_enhance", picture(), {})
    assert len(emu.submissions) == 1 and result.images


def test_lost_submit_answer_is_never_resubmitted(jclient, emu, journal):
    emu.inject("submit", "drop_after_accept")
    with pytest.raises(errors.SubmitUncertain):
        jclient.run("remove_watermark", picture(), {})
    assert journal.recent(1)[0].status == UNCERTAIN
    with pytest.raises(errors.SubmitUncertain) as info:
        jclient.run("remove_watermark", picture(), {})
    assert "variation" in info.value.en and "variation" in info.value.zh
    [outcome] = jclient.run_many("remove_watermark", [picture()], {})
    assert isinstance(outcome, errors.SubmitUncertain)
    assert len(emu.submissions) == 1
    assert len(journal.recent(10)) == 1  # the attempt stays visible, nothing new was tried


def test_changed_variation_submits_exactly_once(jclient, emu):
    jclient.run("remove_diamonds", picture(), {})
    jclient.run("remove_diamonds", picture(), {}, variation=1)
    jclient.run("remove_diamonds", picture(), {}, variation=1)
    jclient.run("remove_diamonds", picture(), {})
    assert len(emu.submissions) == 2


def test_other_parameters_or_pixels_are_new_work(jclient, emu):
    jclient.run("seamless", picture(), {"fit": 0.5})
    jclient.run("seamless", picture(), {"fit": 0.6})
    jclient.run("seamless", picture(seed=9), {"fit": 0.5})
    assert len(emu.submissions) == 3


def test_two_concurrent_runs_of_the_same_request_submit_once(make_settings, tmp_path, emu, fast_polls, backend):
    emu.status_cache = 0.0
    emu.processing_time = 1.0
    clients = [Client(make_settings(), journal=backend.make(tmp_path / "shared")) for _ in range(2)]
    results: list = [None, None]

    def go(i):
        results[i] = clients[i].run("face_enhance", picture(), {})

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(emu.submissions) == 1
    assert results[0].task_id == results[1].task_id and results[0].images == results[1].images


def test_two_processes_share_one_journal_safely(emu, tmp_path, backend):
    emu.processing_time = 1.0
    script = tmp_path / "worker.py"
    script.write_text(
        "import runpy, sys, numpy as np\n"
        "runpy.run_path(sys.argv[1] + '/tools/dev.py')['register']()\n"
        "from hdredraw.engine import config, jobs\n"
        "from hdredraw.engine.journal import open_journal\n"
        "st = config.load()\n"
        "c = jobs.Client(st, journal=open_journal(st, sys.argv[2]))\n"
        "img = np.random.default_rng(5).random((32, 32, 3)).astype('float32')\n"
        "res = c.run_many('remove_fabric', [img, img * 0.5], {})\n"
        "print(','.join(x.task_id for x in res))\n")
    env = {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key}
    procs = [start_python([str(script), str(ROOT), str(tmp_path / "shared")], env=env) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    assert len({o[0].strip() for o in outs}) == 1
    assert len(emu.submissions) == 2


def test_spend_guard_blocks_an_oversized_batch_before_any_submission(make_settings, journal, emu, fast_polls):
    c = Client(make_settings(max_new_tasks=4), journal=journal)
    with pytest.raises(errors.SpendGuardError) as info:
        c.run_many("face_enhance", [picture(i) for i in range(5)], {})
    assert "HDREDRAW_MAX_NEW_TASKS" in info.value.en and "5" in info.value.en
    assert emu.requests == []
    c.run_many("face_enhance", [picture(i) for i in range(3)], {})
    # three are recorded, so only two of these five are new: within the cap
    c.run_many("face_enhance", [picture(i) for i in range(5)], {})
    assert len(emu.submissions) == 5


def test_evicted_results_are_fetched_again_from_the_service(make_settings, tmp_path, emu, fast_polls, backend):
    emu.status_cache = 0.0
    journal = backend.make(tmp_path / "small", cache_mb=0)  # keeps nothing on disk
    c = Client(make_settings(), journal=journal)
    first = c.run("seamless", picture(), {})
    assert not any((tmp_path / "small" / "results").iterdir())
    polls = emu.status_polls(first.task_id)
    again = c.run("seamless", picture(), {})
    assert len(emu.submissions) == 1 and again.images == first.images and again.grid == first.grid
    assert emu.status_polls(first.task_id) > polls
    assert "again" in again.notes[-1].en


def test_eta_from_history_is_labelled_as_an_estimate(jclient, emu):
    emu.processing_time = 0.6
    jclient.run("remove_fabric", picture(1), {})
    seen = []
    jclient.run("remove_fabric", picture(2), {}, on_progress=seen.append)
    texts = [p.text("en") for p in seen if p.eta is not None and p.stage in ("queued", "processing")]
    assert texts and "estimate" in texts[0]
    assert any("估计" in p.text("zh") for p in seen if p.eta is not None and p.stage in ("queued", "processing"))


def test_fetch_by_task_id_keeps_the_result(jclient, emu, journal):
    plain = Client(jclient.settings)  # submitted without a journal, e.g. by another tool
    task = plain.run("remove_fabric", picture(), {})
    got = jclient.fetch(task.task_id)
    assert got.images == task.images and journal.by_task_id(task.task_id).status == DONE
    emu.reset()  # even if the service forgets, the journal's copy remains
    assert jclient.fetch(task.task_id).images == task.images


def test_journal_file_is_owner_only(tmp_path):
    journal = Journal(tmp_path / "journal")
    assert oct(os.stat(journal.path).st_mode & 0o777) == "0o600"


def test_data_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("HDREDRAW_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert config.data_dir() == tmp_path / "xdg" / "hdredraw"


def test_nodes_reuse_and_say_so(comfy, service_env, backend):
    torch = pytest.importorskip("torch")
    from hdredraw import nodes

    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_RemoveFabric"]()
    image = torch.rand(1, 24, 24, 3, generator=torch.Generator().manual_seed(1))
    a = settle(node.execute(image=image, unique_id="5"))
    b = settle(node.execute(image=image, unique_id="5"))
    assert torch.equal(a[0], b[0]) and len(service_env.submissions) == 1
    assert "Reused" in comfy.texts[-1][1] or "复用" in comfy.texts[-1][1]
    settle(node.execute(image=image, unique_id="5", variation=3))
    assert len(service_env.submissions) == 2
    fetch = nodes.NODE_CLASS_MAPPINGS["HDRedraw_FetchTask"]()
    out = settle(fetch.execute(task_id="", service="HD Redraw", recent=2))
    assert out[0].shape[0] == 2 and "remove_fabric" in out[-1]
    _ = time
