"""Progress that means something: a bar driven by this operation's past durations, an honest time left."""

from __future__ import annotations

import numpy as np
import pytest

from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import Journal
from hdredraw.engine.progress import Estimate, Progress


def test_the_bar_reaches_90_percent_at_the_median_and_95_at_p90():
    est = Estimate.from_durations([10, 12, 20, 30, 40])
    assert est.p50 == 20
    assert abs(est.fraction(est.p50) - 0.90) < 1e-9 and abs(est.fraction(est.p90) - 0.95) < 1e-9
    fractions = [est.fraction(t) for t in range(0, 200)]
    assert fractions == sorted(fractions) and max(fractions) < 0.99


def test_time_left_never_says_zero_while_the_task_runs():
    est = Estimate(p50=30.0, p90=60.0)
    assert round(est.left(3)) == 27
    assert round(est.left(29.9)) == 30  # past the median it counts towards p90, not "~0 s"
    assert est.left(60) is None
    texts = [Progress("processing", 0.5, False, "", t, eta=est.left(t), late=t >= est.p90).text()
             for t in np.arange(0, 90, 0.25)]
    assert not any("~0 s" in t for t in texts)
    assert "taking longer than usual" in texts[-1]


@pytest.mark.long
def test_a_run_with_history_reports_a_rising_bar_and_a_time_left(make_settings, tmp_path, emu, fast_polls):
    emu.status_cache = 0.0
    emu.processing_time = 0.8
    c = Client(make_settings(), journal=Journal(tmp_path / "j"))
    for seed in range(3):
        c.run("remove_fabric", np.random.default_rng(seed).random((24, 24, 3)).astype(np.float32))
    seen: list[Progress] = []
    c.run("remove_fabric", np.random.default_rng(9).random((24, 24, 3)).astype(np.float32), on_progress=seen.append)
    waiting = [p for p in seen if p.stage in ("queued", "processing")]
    assert waiting and all(p.eta is not None or p.late for p in waiting)
    fractions = [p.fraction for p in waiting]
    assert fractions == sorted(fractions) and fractions[-1] > 0.3
    assert "left (estimate)" in waiting[0].text()


@pytest.mark.long
def test_the_estimate_follows_tasks_of_the_same_size(make_settings, tmp_path, emu):
    emu.status_cache = 0.0
    c = Client(make_settings(), journal=Journal(tmp_path / "j"))
    for processing, side in ((0.05, 32), (0.6, 1100)):  # small images are quick, big ones slow
        emu.processing_time = processing
        for shade in (0.2, 0.4, 0.6):  # a new image each time: a new task, not a reused one
            c.run("remove_fabric", np.full((side, side, 3), shade, dtype=np.float32))
    from hdredraw.engine import journal_paths, specs
    from hdredraw.engine.progress import Reporter

    p50 = {}
    for size in ("≤1MP", "≤4MP"):
        report = Reporter(None)
        journal_paths.plan_eta(c.journal, specs.get("remove_fabric"), report, size=size)
        p50[size] = report.estimate.p50
    assert p50["≤4MP"] > 0.6 > p50["≤1MP"]  # each size class is estimated from its own history
