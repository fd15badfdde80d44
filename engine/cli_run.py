"""`hdredraw run`: one operation over many image files, as a batch tool that never wastes money.

The run has three phases, and nothing is sent before the third:

1. **Plan.**  Inputs (files, folders, globs) are collected; the output folder is checked; every file is
   decoded and made ready for upload (any format Pillow reads; broken files are refused here); each gets
   its request fingerprint and the journal says whether it is new, already done (reuse), still running
   from an earlier run (resume), or an earlier attempt whose answer was lost (not sent again).  Identical
   inputs are one task.  Output names are decided, and files they would replace are refused unless
   ``--overwrite``.  The spend guard counts the new tasks.  ``--dry-run`` stops here and prints the plan
   with the estimated cost.
2. **Run.**  Unique requests go through the engine (``Client.run``) from a few worker threads; the
   process-wide limiter of the service bounds how many run on the service at once, as for the nodes.  Each
   result is written as soon as it arrives.
3. **Summary.**  done / reused / failed / uncertain (and what is still pending), task ids, time, and the
   balance the service reported.

Ctrl-C: the workers and the waits are on threads, so the main thread sees the interrupt at once, sets the
cancel flag the engine honours, and the run stops within a second.  Task ids stay in the journal, so the
same command resumes them for free.  A submit that was on its way is waited for (bounded by the read
timeout; a second Ctrl-C quits at once) so its task id is recorded rather than lost.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from . import codecs, errors, prices, result_files, specs
from .cli_inputs import (
    DONE_NEW,
    FAILED_,
    NOT_STARTED,
    PENDING_,
    RESUMED,
    REUSED,
    UNCERTAIN_,
    Item,
    Workers,
)
from .cli_plan import RunPlan
from .cli_report import RunReport
from .console import Display, LiveDisplay, is_terminal, make_display
from .errors import HDRedrawError
from .journal import PENDING, SUBMITTING, UNCERTAIN
from .progress import Progress, TaskResult
from .spend import SpendGuard
from .text import Text, language

TICK = 0.2  # how often the main thread looks up from waiting (Ctrl-C, progress)



# --------------------------------------------------------------------------- the command

class Run(RunPlan, RunReport):
    """One `hdredraw run` command: plan, run, summary (see the module docstring)."""

    def __init__(self, args: Any, argv: Sequence[str] | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None):
        self.args = args
        self.argv = list(argv) if argv is not None else sys.argv[1:]
        self.out_stream = stdout or sys.stdout
        self.err_stream = stderr or sys.stderr
        self.lang = language()
        self.op = specs.get(args.operation)
        self.cancel = threading.Event()
        self.items: list[Item] = []
        self.json_lock = threading.Lock()
        self.display: Display | None = None
        self.started = time.monotonic()
        self.started_wall = time.time()

    # ------------------------------------------------------------------ output helpers

    def say(self, text: Text | str) -> None:
        """A line for people: stdout normally, stderr with --json (stdout is for records then)."""
        line = text.get(self.lang) if isinstance(text, Text) else text
        stream = self.err_stream if self.args.json else self.out_stream
        if isinstance(self.display, LiveDisplay) and is_terminal(stream):
            self.display.line(line)  # the same screen: above the live bars, not through them
            return
        stream.write(line + "\n")
        stream.flush()

    def warn(self, text: Text | str) -> None:
        line = text.get(self.lang) if isinstance(text, Text) else text
        if self.display is not None:
            self.display.line(line)
        else:
            self.err_stream.write(line + "\n")
            self.err_stream.flush()

    def record(self, data: dict[str, Any]) -> None:
        if not self.args.json:
            return
        with self.json_lock:
            self.out_stream.write(json.dumps(data, ensure_ascii=False) + "\n")
            self.out_stream.flush()

    def eta(self) -> float | None:
        """Seconds left for the whole batch: from this run's pace once a few tasks finished, before that from
        the journal's history of this operation (median duration × waves of the service's limit)."""
        todo = [it for it in self.unique if it.status == NOT_STARTED and it.plan in ("new", "resume")]
        if not todo:
            return None
        finished = [it for it in self.unique if it.status in (DONE_NEW, RESUMED)]
        elapsed = time.monotonic() - self.started
        if len(finished) >= 3:
            return elapsed / len(finished) * len(todo)
        if self.p50 is None:
            return None
        limit = max(1, self.client.limiter(self.op.service).limit)
        return max(1.0, math.ceil(len(todo) / limit) * self.p50)

    def run(self) -> int:
        self.check_before_sending()
        try:
            self.p50 = self.journal.median_duration(self.op.id)
        except HDRedrawError:
            self.p50 = None
        self.balance_before = prices.last_balance(self.entries(), self.op.service)
        workers = self.args.concurrency or max(2, min(64, 2 * self.settings.concurrency))
        self.guard = SpendGuard(self.settings.max_new_tasks)
        self.started = time.monotonic()
        self.display = make_display([it.label for it in self.items], self.err_stream, title=self.op.id,
                                    eta=self.eta, live=None if not self.args.plain else False)
        interrupted = False
        try:
            pool = Workers(lambda k: self._run_one(self.unique[k]), len(self.unique), workers, self.cancel,
                           "hdredraw-run")
            try:
                pool.wait()
            except KeyboardInterrupt:
                interrupted = True
                self.cancel.set()
                self.warn(Text("Ctrl-C: stopping (press Ctrl-C again to quit at once) …",
                               "Ctrl-C:正在停止(再按一次 Ctrl-C 立即退出)……"))
                pool.wait()  # every wait in the engine looks at the cancel flag 5 times a second
        finally:
            if self.display is not None:
                self.display.close()
            self.display = None
        if interrupted:
            self._wait_for_late_answers()
        self.summary(interrupted)
        if interrupted:
            return 130
        return 1 if any(it.status in (FAILED_, UNCERTAIN_, PENDING_, NOT_STARTED) for it in self.items) else 0

    def _run_one(self, item: Item) -> None:
        t0 = time.monotonic()

        def on_progress(p: Progress) -> None:
            if p.stage == "submitting":
                item.submitting = True
            if p.reused:
                item.reused_seen = True
            if p.task_id:
                item.task_id = p.task_id
            if self.display is not None:
                for copy in self._copies(item):
                    self.display.progress(copy.index, p)

        try:
            upload = item.upload or self._reread(item)
            outcome: TaskResult | HDRedrawError = self.client.run(
                self.op, upload, self.values, cancel=self.cancel.is_set, on_progress=on_progress,
                variation=self.variation, guard=self.guard)
        except HDRedrawError as exc:
            outcome = exc
        except Exception as exc:  # noqa: BLE001 - one input's surprise must not hide the others' results
            outcome = HDRedrawError(f"Unexpected failure ({type(exc).__name__}: {exc}).",
                                    f"意外错误({type(exc).__name__}:{exc})。")
        item.seconds = time.monotonic() - t0
        item.upload = None  # free the memory now
        for copy in self._copies(item):
            self._finish(copy, item, outcome)

    def _reread(self, item: Item) -> codecs.Encoded:
        """An input dropped from memory after planning: read again, and it must still be the same file."""
        upload = self._read(item).upload
        if hashlib.sha256(upload.data).hexdigest() != item.upload_sha256:
            raise errors.ValidationError(
                "The file changed while the run was going on; it was not sent. Run the command again.",
                "运行期间文件发生了变化,未发送。请重新运行命令。")
        return upload

    def _copies(self, item: Item) -> list[Item]:
        """The item and every other input with the same image and settings (they share one task)."""
        return self.copies.get(item.index, [item])

    def _finish(self, item: Item, source: Item, outcome: TaskResult | HDRedrawError) -> None:
        """Record an input's outcome, write its files, tell the user (and the script, with --json)."""
        copy = item is not source
        item.seconds = source.seconds
        if isinstance(outcome, HDRedrawError):
            item.paid = not copy and source.submitting and bool(source.task_id)  # created, then cancelled/failed
            item.error = outcome
            item.task_id = outcome.task_id or source.task_id
            if isinstance(outcome, errors.SubmitUncertain):
                item.status = UNCERTAIN_
            elif isinstance(outcome, (errors.Cancelled, errors.JobTimeout)):
                item.status = PENDING_ if outcome.task_id else NOT_STARTED
            else:
                item.status = FAILED_
            if item.status == NOT_STARTED:
                item.error = None
        else:
            item.task_id = outcome.task_id
            item.paid = source.submitting and not source.reused_seen and not copy
            if copy or source.reused_seen:
                item.status = REUSED
            else:
                item.status = DONE_NEW if source.submitting else RESUMED
            item.result_notes = [Text(
                f"Same image and settings as {source.label}: its result is reused (no extra charge).",
                f"与 {source.label} 的图片和参数相同:复用其结果(未重复扣费)。")] if copy else list(outcome.notes)
            try:
                item.written = result_files.write_result(outcome, self.out / item.stem.parent, item.stem.name,
                                                         self.args.overwrite)
            except OSError as exc:
                item.status = FAILED_
                item.error = HDRedrawError(
                    f"The result could not be saved ({exc.strerror or exc}); it is kept in the journal: run the "
                    f"same command again (no charge) once the output folder is writable, or `hdredraw fetch "
                    f"{outcome.task_id} -o FOLDER`.",
                    f"结果无法保存({exc.strerror or exc});结果已保存在任务记录中:输出文件夹可写后重新运行相同命令(不扣费),"
                    f"或运行 `hdredraw fetch {outcome.task_id} -o 文件夹`。", task_id=outcome.task_id)
        self._report(item)

    def _wait_for_late_answers(self) -> None:
        """Submits that were on their way when Ctrl-C came: wait (bounded) for their answers to be recorded."""
        flying = [it for it in self.unique if isinstance(it.error, errors.CancelledUncertain)]
        if not flying:
            return
        seconds = self.settings.read_timeout
        self.warn(Text(
            f"{len(flying)} submit(s) were on their way to the service. Waiting up to {seconds:.0f} s for the answer "
            "so the task id is recorded and the next run resumes it for free. Press Ctrl-C again to quit now (the "
            "attempt then stays 'uncertain': check your balance before running it again).",
            f"{len(flying)} 个提交请求正在发送途中。最多等待 {seconds:.0f} 秒以记录任务ID,下次运行即可免费继续。"
            "再按一次 Ctrl-C 立即退出(该请求将保持“不确定”状态:再次运行前请先检查余额)。"))
        deadline = time.monotonic() + seconds + 1.0
        left = list(flying)
        while left and time.monotonic() < deadline:
            still = []
            for it in left:
                entry = self.journal.latest(it.fingerprint)
                if entry is not None and entry.status in (UNCERTAIN, SUBMITTING):
                    still.append(it)
                elif entry is not None and entry.status == PENDING:
                    for copy in self._copies(it):
                        copy.status, copy.task_id, copy.error = PENDING_, entry.task_id, None
                    self.warn(Text(f"{it.label}: task {entry.task_id} recorded; the next run resumes it for free.",
                                   f"{it.label}:已记录任务 {entry.task_id};下次运行将免费继续。"))
                else:
                    for copy in self._copies(it):
                        copy.status, copy.error = NOT_STARTED, None
                    self.warn(Text(f"{it.label}: the service refused it; nothing was charged.",
                                   f"{it.label}:服务拒绝了该请求;未扣费。"))
            left = still
            if left:
                time.sleep(TICK)

    # ------------------------------------------------------------------ phase 3: summary

