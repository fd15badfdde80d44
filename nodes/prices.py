"""What a task costs, learned from the balance the service reports (neither service documents prices).

Why here and like this: HD Redraw answers every submit and status with the account's remaining task count and
money, and the journal keeps the last balance seen for each task.  Between two balance observations the
balance falls by what the tasks submitted in between cost.  When exactly one task was submitted in that
window its charge is a fact; when several were, each is given an equal share and the figure is marked as an
estimate.  A price per operation is the median of such per-task charges from windows holding only that
operation.  Nothing here is ever shown as a fact unless the balance moved for that task alone.

The journal's rows are the only evidence (`Journal.recent`); this module reads them and never writes.
(`engine/prices.py` on the CLI branch may learn prices for `--dry-run`; the two are meant to be folded
together: `learn`, `charges` and `spend_since` are the whole interface.)
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

DONE = "done"
SAMPLES = 20  # the most recent per-task charges a price is learned from


class Row(Protocol):
    """The fields of a journal entry (engine.journal.Entry) this module reads."""

    id: int
    fingerprint: str
    service: str
    op_id: str
    task_id: str | None
    status: str
    submitted_at: float | None
    finished_at: float | None
    remaining_count: int | None
    remaining_money: float | None


@dataclass(frozen=True)
class Charge:
    """What one task cost: prepaid tasks used and money spent.  `exact` when the balance moved for it alone."""

    count: float
    money: float
    exact: bool

    def as_dict(self) -> dict[str, Any]:
        return {"count": _round(self.count), "money": _round(self.money), "exact": self.exact}


@dataclass(frozen=True)
class Price:
    """A learned price per task of one operation (medians), and how many charges it was learned from."""

    op_id: str
    count: float
    money: float
    samples: int

    def as_dict(self) -> dict[str, Any]:
        return {"count": _round(self.count), "money": _round(self.money), "samples": self.samples}


def _round(value: float) -> float:
    return round(value, 4)


def _charged_rows(rows: Iterable[Row]) -> list[Row]:
    """Tasks the pack submitted and the service accepted (a fetched-by-id task was never bought here)."""
    return [r for r in rows if r.task_id and r.submitted_at is not None and not r.fingerprint.startswith("task:")]


def _observations(rows: Iterable[Row]) -> list[tuple[float, int, float | None, float | None]]:
    """(time, row id, remaining count, remaining money) for every balance the journal kept, oldest first.

    A finished task holds the balance of its last status answer (seen when it finished); any other row the
    balance of its submit answer."""
    seen = []
    for r in rows:
        if r.remaining_count is None and r.remaining_money is None:
            continue
        at = r.finished_at if r.status == DONE and r.finished_at is not None else r.submitted_at
        if at is not None:
            seen.append((at, r.id, r.remaining_count, r.remaining_money))
    return sorted(seen)


def _drop(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else float(before) - float(after)


def _windows(rows: Sequence[Row]) -> list[tuple[list[Row], float, float]]:
    """(tasks submitted in the window, count drop, money drop) between consecutive balance observations.

    Windows where the balance rose (a top-up, another account) or moved with no task of ours are skipped."""
    bought = sorted(_charged_rows(rows), key=lambda r: (r.submitted_at, r.id))
    obs = _observations(rows)
    out = []
    for (t0, _, c0, m0), (t1, _, c1, m1) in zip(obs[:-1], obs[1:], strict=True):
        tasks = [r for r in bought if t0 < r.submitted_at <= t1]  # type: ignore[operator]
        count, money = _drop(c0, c1), _drop(m0, m1)
        if not tasks or (count is None and money is None):
            continue
        if (count or 0) < 0 or (money or 0) < 0:
            continue
        out.append((tasks, count or 0.0, money or 0.0))
    return out


def charges(rows: Sequence[Row]) -> dict[int, Charge]:
    """Each task's charge by journal row id, for the tasks whose window is known."""
    out: dict[int, Charge] = {}
    for tasks, count, money in _windows(rows):
        n = len(tasks)
        for r in tasks:
            out[r.id] = Charge(count / n, money / n, exact=n == 1)
    return out


def learn(rows: Sequence[Row]) -> dict[str, Price]:
    """The price per task of every operation with evidence: medians of the most recent per-task charges from
    windows in which only that operation ran."""
    samples: dict[str, list[tuple[float, float]]] = {}
    for tasks, count, money in sorted(_windows(rows), key=lambda w: w[0][0].submitted_at or 0.0):
        ops = {r.op_id for r in tasks}
        if len(ops) == 1:
            samples.setdefault(ops.pop(), []).extend([(count / len(tasks), money / len(tasks))] * len(tasks))
    prices = {}
    for op_id, pairs in samples.items():
        recent = pairs[-SAMPLES:]
        prices[op_id] = Price(op_id, statistics.median(c for c, _ in recent),
                              statistics.median(m for _, m in recent), len(recent))
    return prices


def spend_since(rows: Sequence[Row], since: float) -> dict[str, Any]:
    """New tasks submitted since `since` and what they cost, with whether every charge is a fact."""
    recent = [r for r in _charged_rows(rows) if r.submitted_at >= since]  # type: ignore[operator]
    known = charges(rows)
    counted = [known[r.id] for r in recent if r.id in known]
    return {"tasks": len(recent), "known": len(counted),
            "count": _round(sum(c.count for c in counted)), "money": _round(sum(c.money for c in counted)),
            "exact": bool(counted) and len(counted) == len(recent) and all(c.exact for c in counted)}


def start_of_today(now: float | None = None) -> float:
    """Local midnight (the server's clock: the journal's times are the server's)."""
    t = time.localtime(now if now is not None else time.time())
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def summary(rows: Sequence[Row], now: float | None = None) -> dict[str, Any]:
    """What the web extension shows: learned prices per operation and today's spend."""
    return {"prices": {op: p.as_dict() for op, p in learn(rows).items()},
            "spend_today": spend_since(rows, start_of_today(now))}
