"""Prices are learned from the balance the service reports (engine/prices.py): a charge is a fact only when the
balance moved for that task alone, an estimate otherwise, and nothing is invented without evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hdredraw.engine import prices
from hdredraw.engine.jobs import Client
from hdredraw.engine.journal import Journal


@dataclass
class Row:
    id: int
    op_id: str
    submitted_at: float | None
    finished_at: float | None
    remaining_count: int | None
    remaining_money: float | None
    status: str = "done"
    service: str = "hdredraw"
    task_id: str | None = "t"
    fingerprint: str = "fp"
    created_at: float = 0.0
    account: str = ""


def rows(*specs) -> list[Row]:
    return [Row(i + 1, *spec) for i, spec in enumerate(specs)]


def test_one_task_per_window_is_an_exact_charge():
    journal = rows(("redraw", 10, 11, 100, 300), ("redraw", 20, 21, 99, 300), ("seamless", 30, 31, 99, 298))
    charged = prices.charges(journal)
    assert 1 not in charged  # nothing before the first balance: unknown, not zero
    assert charged[2] == prices.Charge(1, 0, exact=True)
    assert charged[3] == prices.Charge(0, 2, exact=True)
    learned = prices.learn(journal)
    redraw, seamless = learned[("hdredraw", "redraw")], learned[("hdredraw", "seamless")]
    assert (redraw.count, redraw.money, redraw.samples) == (1, None, 1)  # no money price seen yet: not zero
    assert seamless.count is None and seamless.money == 2  # paid in money once the count ran out


def test_concurrent_tasks_share_the_drop_and_are_estimates():
    # a batch of four submitted together; each finish reports the balance after all four
    journal = rows(("redraw", 10, 11, 100, 0), *[("redraw", 20 + i, 30 + i, 96, 0) for i in range(4)])
    charged = prices.charges(journal)
    assert all(charged[i] == prices.Charge(1, 0, exact=False) for i in (2, 3, 4, 5))
    assert prices.learn(journal)[("hdredraw", "redraw")].samples == 4
    spend = prices.spend_since(journal, 0)
    assert spend == {"tasks": 5, "known": 4, "count": 4, "money": 0, "exact": False}


def test_mixed_operations_in_one_window_teach_no_price():
    journal = rows(("redraw", 10, 11, 100, 0), ("redraw", 20, 40, 98, 0), ("seamless", 21, 41, 98, 0))
    assert prices.learn(journal) == {}
    assert not prices.charges(journal)[2].exact


def test_top_ups_other_accounts_and_free_fetches_are_not_charges():
    journal = rows(("redraw", 10, 11, 5, 0), ("redraw", 20, 21, 50, 0),  # topped up in between
                   ("check_task_status", 30, 31, 50, 0))
    journal[2].fingerprint = "task:abc"  # fetched by id: bought elsewhere, free here
    assert prices.charges(journal) == {}
    assert prices.learn(journal) == {}


def test_two_accounts_interleaved_are_each_their_own_balance():
    journal = rows(("redraw", 10, 11, 100, 0), ("redraw", 15, 16, 50, 0), ("redraw", 20, 21, 99, 0),
                   ("redraw", 25, 26, 49, 0))
    for row, account in zip(journal, "abab", strict=True):
        row.account = account
    assert prices.charges(journal) == {3: prices.Charge(1, 0, exact=True), 4: prices.Charge(1, 0, exact=True)}
    assert prices.summary(journal)["prices"]["redraw"] == {"count": 1, "money": 0, "samples": 2}


def test_hidream_and_unsubmitted_rows_are_ignored():
    journal = rows(("redraw", 10, 11, 10, 0), ("hidream_vectorize", 20, 21, None, None), ("redraw", None, None, None, None))
    journal[1].service = "hidream"
    journal[2].status, journal[2].task_id = "uncertain", None
    assert prices.charges(journal) == {} and prices.learn(journal) == {}


def test_summary_counts_today_only():
    now = 1_700_000_000.0
    midnight = prices.start_of_today(now)
    journal = rows(("redraw", midnight - 100, midnight - 90, 10, 0), ("redraw", midnight + 10, midnight + 20, 9, 0))
    summary = prices.summary(journal, now=max(now, midnight + 30))
    assert summary["spend_today"] == {"tasks": 1, "known": 1, "count": 1, "money": 0, "exact": True}
    assert summary["prices"]["redraw"] == {"count": 1, "money": 0, "samples": 1}


def test_prices_from_a_real_journal(emu, make_settings, tmp_path):
    """The emulator charges one prepaid task per task: two tasks one after the other teach exactly that."""
    journal = Journal(tmp_path / "journal")
    client = Client(make_settings(), journal=journal)
    try:
        for seed in (1, 2, 3):
            image = np.random.default_rng(seed).random((16, 16, 3), dtype=np.float32)
            client.run("remove_watermark", image, {})
    finally:
        client.close()
    entries = journal.recent(10)
    charged = prices.charges(entries)
    assert sorted(c.exact for c in charged.values()) == [True, True]  # the first task has no earlier balance
    assert all(c.count == 1 and c.money == 0 for c in charged.values())
    assert prices.learn(entries)[("hdredraw", "remove_watermark")].count == 1
