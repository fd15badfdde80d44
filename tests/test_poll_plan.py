"""The first status poll is placed from how long earlier tasks took, so a finished task is noticed sooner."""

from __future__ import annotations

import random

import numpy as np

from hdredraw.engine import poll_plan
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import DONE, Journal

INTERVAL = 3.1


def observe(finish: float, first: float) -> tuple[float, float]:
    """The window a task finishing at `finish` leaves when polled at first, first + INTERVAL, …"""
    t, last = first, 0.0
    while t < finish:
        last, t = t, t + INTERVAL
    return last, t


def learned_waits(durations, rounds: int = 80, seed: int = 1) -> tuple[float, float]:
    """Mean wait after finishing for the fixed old schedule (first poll at 1 s) and for the plan."""
    rng = random.Random(seed)
    seen: list[tuple[float, float]] = []
    fixed, planned = [], []
    for _ in range(rounds):
        finish = durations(rng)
        fixed.append(observe(finish, 1.0)[1] - finish)
        window = observe(finish, poll_plan.first_poll(seen, 0.5, INTERVAL, rng))
        planned.append(window[1] - finish)
        seen.insert(0, window)
    return float(np.mean(fixed[-40:])), float(np.mean(planned[-40:]))


def test_tasks_that_take_a_steady_time_are_noticed_soon_after_they_finish():
    fixed, planned = learned_waits(lambda rng: rng.uniform(4.3, 4.9))
    assert fixed > 2.2  # polls at 1, 4.1, 7.2: every task waits until 7.2
    assert planned < 0.9


def test_spread_out_durations_cost_no_more_than_half_an_interval():
    runs = np.array([learned_waits(lambda rng: rng.uniform(1.0, 5.0), seed=s) for s in range(4)])
    fixed, planned = runs.mean(axis=0)
    assert planned < fixed and planned < INTERVAL / 2 + 0.1


def test_the_estimate_puts_the_finish_where_the_windows_overlap():
    windows = [(0.0, 2.3), (1.5, 4.6), (1.9, 5.0), (0.9, 2.1), (1.8, 4.9), (1.2, 4.3)]
    t, share = poll_plan.finish_times(windows)
    assert abs(share.sum() - 1) < 1e-9
    assert share[(t > 1.9) & (t <= 2.1)].sum() > 0.95  # the one stretch inside every window
    first = poll_plan.first_poll(windows, 0.5, INTERVAL, _NoExplore())
    assert 2.0 <= first <= 2.3


def test_without_history_the_first_poll_is_anywhere_in_one_interval():
    firsts = [poll_plan.first_poll([], 0.5, INTERVAL, random.Random(s)) for s in range(200)]
    assert 0.5 <= min(firsts) < 0.7 and 3.4 < max(firsts) < 0.5 + INTERVAL


def test_only_plausible_windows_are_read_back():
    stored = [{"window": [1.0, 4.1]}, {"window": [4.0, 1.0]}, {"window": "x"}, None, {}, {"window": [-1, 2]},
              {"window": [True, 2.0]}, {"window": [0, 1e12]}]
    assert poll_plan.windows(stored) == [(1.0, 4.1)]


def test_a_finished_task_records_the_window_it_finished_in(emu, make_settings, tmp_path):
    emu.status_cache = 0.0
    emu.processing_time = 0.4
    c = Client(make_settings(), journal=Journal(tmp_path / "j"))
    c.run("remove_fabric", np.random.default_rng(0).random((24, 24, 3)).astype(np.float32))
    (entry,) = c.journal.recent(5, DONE)
    running, done = entry.result["window"]
    assert 0 <= running < 0.4 < done + 0.4 and running < done  # still running at one poll, done at the next
    assert emu.status_polls(entry.task_id) >= 2


class _NoExplore(random.Random):
    def random(self) -> float:
        return 0.99


def test_a_batch_shares_its_first_poll_so_it_is_noticed_together(monkeypatch):
    """The batch ends when its last task is seen: random phases per task would make it wait for the worst."""
    from hdredraw.engine import journal_paths, specs

    op = specs.get("remove_fabric")
    monkeypatch.setattr(journal_paths.time, "time", lambda: 1_800_000_000.0)
    assert len({journal_paths.first_poll([], op) for _ in range(8)}) == 1
    draws = set()
    for moment in range(40):
        monkeypatch.setattr(journal_paths.time, "time", lambda m=moment: 1_800_000_000.0 + 10 * m)
        draws.add(journal_paths.first_poll([], op))
    assert len(draws) > 30  # and from one batch to the next it explores other phases
