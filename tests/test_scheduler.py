"""One limiter per service and process: busy answers shrink it, successes grow it back, nothing is lost."""

from __future__ import annotations

import numpy as np
import pytest

from hdredraw.engine import errors, scheduler
from hdredraw.engine.jobs import Client
from hdredraw.engine.scheduler import AdaptiveLimiter
from hdredraw.engine.transport import Context


def picture(seed=0, h=32, w=40):
    return np.random.default_rng(seed).random((h, w, 3)).astype(np.float32)


@pytest.fixture(autouse=True)
def fresh_limiters(monkeypatch):
    monkeypatch.setattr(scheduler, "_limiters", {})


def test_a_batch_larger_than_the_services_limit_finishes_without_errors_or_extra_submissions(
        make_settings, emu, fast_polls):
    emu.status_cache = 0.0
    emu.processing_time = 0.4
    emu.max_concurrent = 3  # the service answers 429 while 3 tasks run
    c = Client(make_settings(concurrency=8))
    out = c.run_many("remove_fabric", [picture(i) for i in range(12)], {})
    assert not [o for o in out if isinstance(o, errors.HDRedrawError)], out
    assert len(emu.submissions) == 12 and len({o.task_id for o in out}) == 12
    refused = [r for r in emu.requests if r["phase"] == "submit"]
    assert len(refused) > 12  # some submits were refused with 429 (and sent again: nothing was created)
    assert c.limiter("hdredraw").limit < 8


def test_busy_halves_once_per_wave_and_successes_grow_it_back():
    lim = AdaptiveLimiter(8)
    for _ in range(5):  # five refusals of one wave
        lim.busy(0.0)
    assert lim.limit == 4
    ctx = Context()
    for _ in range(4):
        lim.acquire(ctx)
    for _ in range(4):
        lim.release(True)
    assert lim.limit == 5


def test_the_user_setting_is_a_ceiling():
    lim = scheduler.limiter("x", 3)
    for _ in range(50):
        lim.acquire(Context())
        lim.release(True)
    assert lim.limit == 3
    assert scheduler.limiter("x", 2).limit == 2  # a lower setting takes effect at once


def test_waiting_for_a_slot_answers_cancel():
    lim = AdaptiveLimiter(1)
    lim.acquire(Context())
    with pytest.raises(errors.Cancelled):
        lim.acquire(Context(cancel=lambda: True))


def test_raising_the_setting_takes_effect_at_once_unless_the_service_is_busy():
    lim = scheduler.limiter("y", 4)
    assert scheduler.limiter("y", 8).limit == 8
    lim.busy(0.0)
    assert scheduler.limiter("y", 16).limit == 4  # still backing off: it grows back by itself
