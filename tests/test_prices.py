"""Learned prices: estimated from the balances the journal saw, robust to noise, never shown as a fact."""

from __future__ import annotations

from types import SimpleNamespace

from hdredraw.engine import codecs, config, jobs, prices
from hdredraw.engine.demo import sample_garment
from hdredraw.engine.journal import Journal


def row(i: int, count, money, op: str = "seamless", service: str = "hdredraw", status: str = "done",
        submitted: float | None = None, finished: float | None = None, task_id: str | None = "t"):
    """A journal row: submitted at 10·i, finished 5 s later (one task after another)."""
    sub = 10.0 * i if submitted is None else submitted
    return SimpleNamespace(id=i, fingerprint=f"fp{i}", service=service, op_id=op, task_id=task_id and f"{task_id}{i}",
                           status=status, created_at=sub - 0.1, submitted_at=sub,
                           finished_at=(sub + 5 if finished is None else finished) if status == "done" else None,
                           remaining_count=count, remaining_money=money)


def test_no_balances_means_price_not_yet_known():
    assert prices.learn([row(1, None, None), row(2, None, None)]) == {}
    cost = prices.cost(prices.Price("hdredraw", "seamless"), 3, None)
    assert "not yet known" in cost.text("en") and "尚未可知" in cost.text("zh")


def test_one_task_after_another_gives_the_count_price():
    rows = [row(i, 100 - i, 300) for i in range(1, 6)]
    price = prices.learn(rows)[("hdredraw", "seamless")]
    assert price.count == 1 and price.money is None and price.samples == 4


def test_money_once_the_count_is_used_up_and_noise_is_left_out():
    rows = [row(1, 2, 50), row(2, 1, 50), row(3, 0, 50), row(4, 0, 47), row(5, 0, 44),
            row(6, 0, 500),  # a top-up: negative, left out
            row(7, 0, 497), row(8, 0, 494)]
    price = prices.learn(rows)[("hdredraw", "seamless")]
    assert price.count == 1 and price.money == 3
    cost = prices.cost(price, 5, prices.Balance(2, 494, 0.0))  # two from the count, three in money
    assert cost.from_count == 2 and cost.money == 9
    text = cost.text("en")
    assert text.startswith("5 new task(s): ≈ 2 of your task count + ≈ ¥9") and "estimate" in text


def test_overlapping_tasks_are_not_samples():
    """Two charges between two observations say nothing about either price on its own."""
    rows = [row(1, 10, 0, submitted=0, finished=20), row(2, 8, 0, submitted=1, finished=21),
            row(3, 7, 0, submitted=2, finished=22)]
    assert prices.learn(rows) == {}


def test_operations_and_services_are_kept_apart():
    rows = [row(1, 10, 0, op="seamless"), row(2, 9, 0, op="redraw"), row(3, 7, 0, op="redraw"),
            row(4, 6, 0, op="seamless"), row(5, None, None, service="hidream", op="hidream_vectorize")]
    learned = prices.learn(rows)
    assert learned[("hdredraw", "redraw")].count == 1.5 and learned[("hdredraw", "seamless")].count == 1
    assert ("hidream", "hidream_vectorize") not in learned


def test_learned_from_a_real_journal(emu, make_settings, tmp_path):
    """Sequential tasks against the emulator (price 1 from the count, then money) through the real journal."""
    emu.processing_time = 0.05
    emu.add_account("small-account", remaining_count=2, remaining_money=10)
    journal = Journal(config.data_dir())
    client = jobs.Client(make_settings(hdredraw_user_key="small-account"), journal=journal)
    for i in range(5):
        client.run("remove_fabric", codecs.encode_png(sample_garment(32, seed=i)))
    client.close()
    price = prices.estimate(journal, "hdredraw", "remove_fabric")
    assert price.count == 1 and price.money == emu.price
    entries = journal.recent(50)
    balance = prices.last_balance(entries, "hdredraw")
    assert (balance.count, balance.money) == (0, 10 - 3 * emu.price)
    assert prices.cost(price, 2, balance).money == 2 * emu.price
