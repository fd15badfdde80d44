"""When to ask for a task's status the first time, learned from how long earlier tasks took.

A status cache (3 s on HD Redraw) means polls can come no closer than the poll interval, so a finished task
waits on average half an interval before anyone notices, and with a fixed first poll much longer when
tasks tend to finish just after a poll.  What can be chosen is the phase: when the first poll comes.  Each
finished task tells us a window: it was still running at the last "not yet" and done at the first "done"
(seconds after its submit was answered).  From the recent windows of the same operation and image size the
distribution of finish times is estimated (Turnbull's self-consistent estimator for interval-censored
data), and the first poll goes where the expected wait after finishing is least.  Without enough history,
and one time in five, the phase is random: that costs half an interval on average whatever the
durations are, and it varies the windows so that the estimate can sharpen.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

import numpy as np

MIN_WINDOWS = 5  # finished tasks with a window before the plan uses them
RECENT = 60  # windows the estimate looks back over
EXPLORE = 0.2  # share of draws that poll at a random phase, to keep learning
BINS = 400  # time resolution of the estimate (fewer places the poll measurably worse)
ROUNDS = 100  # estimator iterations (enough to place the first poll; the estimate need not converge fully)
CANDIDATES = 64  # phases tried across one interval

Window = tuple[float, float]


def windows(results: Iterable[dict | None]) -> list[Window]:
    """The (still running, done) windows recorded with finished tasks, newest first as given."""
    out: list[Window] = []
    for stored in results:
        w = (stored or {}).get("window")
        if (isinstance(w, (list, tuple)) and len(w) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in w)
                and 0 <= w[0] < w[1] < 86400):
            out.append((float(w[0]), float(w[1])))
    return out[:RECENT]


def finish_times(seen: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    """Time points and the estimated share of tasks finishing at each (sums to 1)."""
    top = max(r for _, r in seen)
    step = top / BINS
    t = (np.arange(BINS) + 0.5) * step
    inside = np.array([(t > lo) & (t <= hi) for lo, hi in seen], dtype=float)
    inside = inside[inside.sum(axis=1) > 0]
    share = np.full(BINS, 1.0 / BINS)
    for _ in range(ROUNDS):
        weight = inside * share
        weight /= weight.sum(axis=1, keepdims=True)
        share = weight.mean(axis=0)
    return t, share


def expected_wait(t: np.ndarray, share: np.ndarray, first: float, interval: float) -> float:
    """Mean seconds between finishing and the next poll, polling at first, first + interval, …"""
    polls = np.ceil(np.maximum(0.0, t - first) / interval)
    return float((first + polls * interval - t) @ share)


def first_poll(seen: Sequence[Window], earliest: float, interval: float,
               rng: random.Random | None = None) -> float:
    """Seconds after the submit answer at which to ask for the status the first time."""
    rng = rng or random
    if interval <= 0:
        return earliest
    if len(seen) < MIN_WINDOWS or rng.random() < EXPLORE:
        return earliest + rng.random() * interval
    t, share = finish_times(seen)
    phases = earliest + np.arange(CANDIDATES) * (interval / CANDIDATES)
    costs = [expected_wait(t, share, a, interval) for a in phases]
    return float(phases[int(np.argmin(costs))])
