"""What the journal lets a run skip or survive: leases, kept results, time estimates, status marks.

Kept apart from the job runner so the runner reads as the journey of one task; each function here is one
rule about the journal (who may submit, what is reused, how a row's status is set while an error is on
its way).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import errors, poll_plan, services, steps
from .errors import HDRedrawError
from .journal import DONE, FAILED, SUBMITTING, UNCERTAIN, Entry, JournalBase
from .operation import Operation
from .progress import Estimate, Reporter, TaskResult
from .redact import get_logger
from .text import Text, language
from .transport import Context

log = get_logger("hdredraw.journal_paths")
HISTORY = 200  # finished tasks the progress estimate looks back over
MIN_ALIKE = 3  # tasks of the same size class needed before the estimate uses only those
SHARED_PHASE_SECONDS = 10  # tasks planned within this share their first-poll draws (a batch, a prompt)
SIZE_KEY = "~size"  # recorded beside a task's parameters: its image's size class


@contextmanager
def lease(journal: JournalBase, fp: str, ctx: Context, report: Reporter) -> Iterator[None]:
    """Hold the fingerprint's lease (waiting while another run holds it), renewing it while we work."""
    holder = journal.new_holder()
    waiting = False
    while not journal.try_lease(fp, holder):
        if not waiting:
            waiting = True
            report.update(note=Text("Waiting: the same request is running in another run",
                                    "等待:相同请求正在另一次运行中处理").get(language()))
        ctx.sleep(0.3)
    if waiting:
        report.update(note="")
    renewed = [time.monotonic()]
    tick = ctx.on_tick

    def renew() -> None:
        if tick is not None:
            tick()
        if time.monotonic() - renewed[0] >= journal.renew_every:
            renewed[0] = time.monotonic()
            try:
                journal.renew(fp, holder)
            except HDRedrawError as exc:  # never abandon a paid task (or a submit on the wire) for this
                log.warning("lease could not be renewed: %s", exc.en)

    ctx.on_tick = renew
    try:
        yield
    finally:
        ctx.on_tick = tick
        try:
            journal.release(fp, holder)
        except HDRedrawError as exc:  # the run's own outcome (or error) matters more
            log.warning("lease could not be released: %s", exc.en)


def kept(journal: JournalBase, entry: Entry, report: Reporter) -> TaskResult | None:
    files = journal.load_files(entry)
    if files is None:
        return None
    result = TaskResult(entry.task_id or "", entry.op_id, entry.service, images=files["images"],
                        grid=files["grid"], image_1x=files["image_1x"], vector=files["vector"],
                        svgs=[steps.safe_svg(d, entry.task_id or "") for d in files["svgs"]], prompt=files["prompt"], urls=files["urls"],
                        remaining_count=entry.remaining_count, remaining_money=entry.remaining_money)
    note = Text(f"Reused the result of task {entry.task_id}: no new charge.",
                f"复用任务 {entry.task_id} 的结果:未重复扣费。")
    result.notes.append(note)
    report.update(stage="done", fraction=1.0, task_id=entry.task_id, reused=True,
                  note=note.get(language()))
    return result


def plan_eta(journal: JournalBase | None, op: Operation, report: Reporter, submitted_wall: float | None = None,
             size: str | None = None) -> list[Entry]:
    """Drive the progress bar and the time left from how long this operation's tasks usually take, for
    images of the same size class when there are enough of those (a 12-megapixel redraw is not a 1-MP one).
    Returns the finished tasks it looked at, for `first_poll`."""
    if journal is None:
        return []
    try:
        done = [e for e in journal.recent(HISTORY, DONE, op.id) if e.finished_at and e.submitted_at]
    except HDRedrawError:  # the estimate is a nicety; never fail a paid task for it
        return []
    alike = [e for e in done if size is not None and (e.params or {}).get(SIZE_KEY) == size]
    sample = alike if len(alike) >= MIN_ALIKE else done
    report.estimate = Estimate.from_durations([e.finished_at - e.submitted_at for e in sample])
    if report.estimate is not None:
        age = time.time() - submitted_wall if submitted_wall else 0.0
        report.submitted_at = time.monotonic() - max(0.0, age)
    return sample


def first_poll(sample: list[Entry], op: Operation) -> float:
    """When to ask for a new task's status first, from the finish windows of the same kind of task.

    Tasks planned within the same SHARED_PHASE_SECONDS share the random draws (to explore or not, and the
    phase), so a batch or a graph's nodes are noticed together: a batch or a prompt ends when its last task
    is seen."""
    rng = random.Random(int(time.time() // SHARED_PHASE_SECONDS))
    return poll_plan.first_poll(poll_plan.windows(e.result for e in sample), steps.FIRST_POLL_DELAY,
                                services.get(op.service).poll_interval, rng)


def keep(journal: JournalBase, entry_id: int, result: TaskResult) -> None:
    """Record a finished result; if the journal fails now, the result in hand is still returned."""
    try:
        journal.finished(entry_id, result)
    except HDRedrawError as exc:
        log.warning("finished task %s could not be kept: %s", result.task_id, exc.en)
        how_en, how_zh = errors.fetch_how(result.task_id)
        result.notes.append(Text(
            f"The result could not be kept in the journal ({exc.en}); {how_en} returns task {result.task_id} "
            "again for free.", f"结果未能保存到任务记录({exc.zh});可用{how_zh}免费取回任务 {result.task_id}。"))



def mark(journal: JournalBase | None, entry_id: int | None, status: str, error: str,
          only_if: str | None = None) -> None:
    """Set a row's status while an error is already on its way: a journal failure must not replace it."""
    if journal is None or entry_id is None:
        return
    try:
        journal.set_status(entry_id, status, error, only_if=only_if)
    except HDRedrawError:
        log.warning("journal row %s could not be marked %s", entry_id, status)


def late_recorder(journal: JournalBase, entry_id: int | None) -> Callable[[dict[str, Any]], None]:
    """What to do with a submit's answer that arrives after the run stopped waiting for it (Cancel)."""
    def late(answer: dict[str, Any]) -> None:
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        task_id = answer.get("task_id") or result.get("task_id")
        if answer.get("err_code", answer.get("code")) != 0:  # refused: nothing was created
            journal.set_status(entry_id, FAILED, "refused",
                               only_if=(SUBMITTING, UNCERTAIN))
        elif task_id:
            journal.submitted(entry_id, steps.service_task_id(task_id),
                              answer.get("remaining_count"), answer.get("remaining_money"))
    return late


