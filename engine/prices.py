"""Learned prices: what a task of each operation costs, from the balances the journal saw.

The services publish no price list; each answer only says what is left (HD Redraw's ``remaining_count``
and ``remaining_money``).  Every journal row keeps the balance seen when its task was submitted, or when
it finished.  Between two balance observations of one account the balance falls by what the tasks
submitted in between cost: with exactly one task that charge is a fact (`Charge.exact`); with several,
each gets an equal share, an estimate.  Top-ups, other accounts and drops with no task of ours show up as
rises or unexplained drops and are left out.  A price per operation is the median of the per-task charges
from windows in which only that operation ran; HD Redraw takes a task from the prepaid count while there
is one and money after that, so the two are learned apart.

Prices are always shown as estimates ("≈ … (estimate)"); with no clean sample a price is "not yet known".
Only `Journal.recent` is read, so any journal backend will do.  The command line (`--dry-run`, the spend
guard's message) and the web extension (price before a run, charge after it, today's spend) both read this.
"""

from __future__ import annotations

import bisect
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .text import Text

DONE, FAILED, PENDING = "done", "failed", "pending"
HISTORY = 2000  # journal rows looked at
SAMPLES = 20  # the most recent per-task charges a price is learned from


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
    """The estimated price of one task of an operation: in tasks of the balance and/or in money."""

    service: str
    op_id: str
    count: float | None = None  # tasks of the balance one task uses (usually 1)
    money: float | None = None  # money one task costs once the task count is used up
    samples: int = 0

    @property
    def known(self) -> bool:
        return self.samples > 0

    def as_dict(self) -> dict[str, Any]:
        """For the web extension: the price of the next task, from the count when it has a count price."""
        return {"count": _round(self.count or 0.0), "money": 0 if self.count else _round(self.money or 0.0),
                "samples": self.samples}


@dataclass(frozen=True)
class Balance:
    """The last balance a service reported (a fact as the service said it, at `seen_at`)."""

    count: float | None
    money: float | None
    seen_at: float


@dataclass(frozen=True)
class Cost:
    """What `n` new tasks are estimated to take from the balance."""

    tasks: int
    from_count: float | None  # tasks of the balance
    money: float | None  # money, for the tasks the count does not cover
    unpriced: int  # tasks whose price in money is not known yet
    price: Price

    def text(self, lang: str = "en") -> str:
        zh = lang.startswith("zh")
        if self.tasks == 0:
            return "无新任务,不扣费" if zh else "no new tasks, nothing to pay"
        if not self.price.known:
            return (f"{self.tasks} 个新任务;价格尚未可知(任务记录中还没有可用的余额变化)" if zh else
                    f"{self.tasks} new task(s); price not yet known (the journal has no balance changes to learn from)")
        parts = []
        if self.from_count:
            parts.append(f"≈ {_num(self.from_count)} 次" if zh else f"≈ {_num(self.from_count)} of your task count")
        if self.money:
            parts.append(f"≈ ¥{_num(self.money)}")
        if self.unpriced:
            parts.append(f"另有 {self.unpriced} 个任务的金额价格尚未可知" if zh else
                         f"price in money not yet known for {self.unpriced} task(s)")
        if not parts:
            parts.append("≈ 0")
        basis = (f"(估计,基于 {self.price.samples} 个以往任务)" if zh else
                 f"(estimate from {self.price.samples} earlier task(s))")
        return f"{self.tasks} 个新任务:" + " + ".join(parts) + basis if zh else \
            f"{self.tasks} new task(s): " + " + ".join(parts) + " " + basis


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def charges(entries: Sequence[Any]) -> dict[int, Charge]:
    """Each task's charge by journal row id, for the tasks whose window is known."""
    out: dict[int, Charge] = {}
    for tasks, count, money in _windows(entries):
        for e in tasks:
            out[e.id] = Charge(count / len(tasks), money / len(tasks), exact=len(tasks) == 1)
    return out


def learn(entries: Sequence[Any]) -> dict[tuple[str, str], Price]:
    """Prices per (service, operation) from journal rows (any order)."""
    samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for tasks, count, money in _windows(entries):
        if len({e.op_id for e in tasks}) == 1:
            share = (count / len(tasks), money / len(tasks))
            samples.setdefault((tasks[0].service, tasks[0].op_id), []).extend([share] * len(tasks))
    return {key: _price(key, values[-SAMPLES:]) for key, values in samples.items()}


def spend_since(entries: Sequence[Any], since: float) -> dict[str, Any]:
    """New tasks submitted since `since` and what they cost, with whether every charge is a fact."""
    recent = [e for e in entries if (t := _charged_at(e)) is not None and e.task_id and t >= since]
    known = charges(entries)
    counted = [known[e.id] for e in recent if e.id in known]
    return {"tasks": len(recent), "known": len(counted),
            "count": _round(sum(c.count for c in counted)), "money": _round(sum(c.money for c in counted)),
            "exact": bool(counted) and len(counted) == len(recent) and all(c.exact for c in counted)}


def start_of_today(now: float | None = None) -> float:
    """Local midnight (the server's clock: the journal's times are the server's)."""
    t = time.localtime(now if now is not None else time.time())
    return time.mktime((t.tm_year, t.tm_mon, t.tm_mday, 0, 0, 0, 0, 0, -1))


def summary(entries: Sequence[Any], now: float | None = None) -> dict[str, Any]:
    """What the web extension shows: learned prices per operation and today's spend."""
    return {"prices": {op: p.as_dict() for (_, op), p in learn(entries).items()},
            "spend_today": spend_since(entries, start_of_today(now))}


def estimate(journal: Any, service: str, op_id: str) -> Price:
    """The learned price of one operation (`Price.known` is False when there is no evidence yet)."""
    return learn(_rows(journal)).get((service, op_id), Price(service, op_id))


def last_balance(entries: Sequence[Any], service: str, before: float | None = None) -> Balance | None:
    """The most recent balance seen for a service (optionally before a moment)."""
    best: tuple[float, Any] | None = None
    for e in entries:
        t = _seen_at(e)
        if e.service != service or t is None or (before is not None and t >= before):
            continue
        if best is None or t > best[0]:
            best = (t, e)
    if best is None:
        return None
    e = best[1]
    return Balance(_float(e.remaining_count), _float(e.remaining_money), best[0])


def cost(price: Price, tasks: int, balance: Balance | None) -> Cost:
    """What `tasks` new tasks would take: the task count first (as HD Redraw charges), then money."""
    if tasks <= 0 or not price.known:
        return Cost(max(0, tasks), None, None, 0, price)
    by_count = 0
    if price.count:
        room = tasks if balance is None or balance.count is None else math.floor(balance.count / price.count)
        by_count = max(0, min(tasks, room))
    rest = tasks - by_count
    money = rest * price.money if rest and price.money is not None else None
    unpriced = rest if rest and price.money is None else 0
    return Cost(tasks, by_count * price.count if by_count and price.count else None, money, unpriced, price)


def cost_text(text: Cost) -> Text:
    """Both languages of a cost line."""
    return Text(text.text("en"), text.text("zh"))


# --------------------------------------------------------------------------- internals

def _rows(journal: Any) -> list[Any]:
    try:
        return list(journal.recent(HISTORY))
    except Exception:  # noqa: BLE001 - an estimate is a nicety: no journal, no estimate
        return []


def _windows(entries: Sequence[Any]) -> list[tuple[list[Any], float, float]]:
    """(tasks charged in the window, count drop, money drop) between consecutive balance observations of
    one account, oldest first; windows with no task of ours, or whose balance rose, are left out."""
    out = []
    for group in _groups(entries).values():
        charged = sorted(((t, e.id, e) for e in group if (t := _charged_at(e)) is not None), key=lambda x: x[:2])
        times = [t for t, _, _ in charged]
        seen = sorted(((t, e.id, e) for e in group if (t := _seen_at(e)) is not None), key=lambda x: x[:2])
        for (t0, _, a), (t1, _, b) in zip(seen, seen[1:], strict=False):
            tasks = [e for _, _, e in charged[bisect.bisect_right(times, t0):bisect.bisect_right(times, t1)]]
            drop = _delta(a, b)
            if tasks and drop is not None:
                out.append((tasks, *drop))
    return sorted(out, key=lambda w: _charged_at(w[0][0]) or 0.0)


def _groups(entries: Sequence[Any]) -> dict[tuple[str, str], list[Any]]:
    groups: dict[tuple[str, str], list[Any]] = {}
    for e in entries:
        groups.setdefault((e.service, str(getattr(e, "account", "") or "")), []).append(e)
    return groups


def _seen_at(e: Any) -> float | None:
    """When the row's balance was seen: at finish for a finished task (the status answer's balance is
    stored then), else at submit; None when the row holds no balance."""
    if e.remaining_count is None and e.remaining_money is None:
        return None
    if e.status == DONE and e.finished_at:
        return float(e.finished_at)
    return float(e.submitted_at) if e.submitted_at else None


def _charged_at(e: Any) -> float | None:
    """When the row's task may have been charged: at its submit.  Rows that never created a task (refused,
    never sent) cost nothing; tasks fetched by id (adopted) were charged at some unknown earlier time."""
    if str(getattr(e, "fingerprint", "")).startswith("task:"):
        return None
    if e.submitted_at:
        return float(e.submitted_at)
    if e.status == FAILED and not e.task_id:
        return None
    return float(e.created_at) if e.created_at else None


def _delta(a: Any, b: Any) -> tuple[float, float] | None:
    """(count, money) used between two observations, or None when it is not a clean single charge."""
    dc = _diff(a.remaining_count, b.remaining_count)
    dm = _diff(a.remaining_money, b.remaining_money)
    if dc is None and dm is None:
        return None
    dc, dm = dc or 0.0, dm or 0.0
    if dc < 0 or dm < 0 or (dc == 0 and dm == 0):  # a top-up, another account, or the order got mixed
        return None
    return dc, dm


def _diff(before: Any, after: Any) -> float | None:
    x, y = _float(before), _float(after)
    return None if x is None or y is None else x - y


def _round(value: float) -> float:
    return round(value, 4)


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _price(key: tuple[str, str], values: list[tuple[float, float]]) -> Price:
    # HD Redraw takes a task from the count while there is one, else money: each sample is one or the other.
    counts = [c for c, _ in values if c > 0]
    money_only = [m for c, m in values if c == 0]
    return Price(key[0], key[1], count=statistics.median(counts) if counts else None,
                 money=statistics.median(money_only) if money_only else None, samples=len(values))
