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

import dataclasses
import hashlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from . import codecs, config, errors, prices, result_files, specs
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
    _labels,
    collect_inputs,
)
from .cli_report import RunReport
from .cli_texts import _conflict_text
from .console import Display, LiveDisplay, is_terminal, make_display
from .errors import HDRedrawError
from .jobs import Client
from .journal import DONE, FAILED, PENDING, SUBMITTING, UNCERTAIN, open_journal
from .progress import Progress, TaskResult
from .spend import SpendGuard
from .text import Text, language

MEMORY_BUDGET = 512 * 1024 * 1024  # upload bytes kept between planning and sending; beyond, files are re-read
TICK = 0.2  # how often the main thread looks up from waiting (Ctrl-C, progress)



# --------------------------------------------------------------------------- the command

class Run(RunReport):
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

    # ------------------------------------------------------------------ phase 1: plan

    def plan(self) -> None:
        args, op = self.args, self.op
        params = {f.name: getattr(args, f.name) for f in op.params if getattr(args, f.name) is not None}
        self.values = op.validate(params)  # wrong parameters fail before any file is read
        self.variation = specs.check_variation(args.variation)
        self.out = result_files.check_output_dir(Path(args.output))
        paths = collect_inputs(args.inputs, recursive=args.recursive, exclude=self.out)
        settings = config.load()
        if args.max_new_tasks is not None:
            if args.max_new_tasks < 0:
                raise errors.ValidationError("--max-new-tasks must be 0 or more.", "--max-new-tasks 不能为负数。")
            settings = dataclasses.replace(settings, max_new_tasks=args.max_new_tasks)
        self.settings = settings
        self.journal = open_journal(settings)
        self.client = Client(settings, journal=self.journal)
        self.client.transport(op.service)  # an unconfigured service fails now, before files are read
        labels = _labels(paths)
        stems = result_files.output_names(paths, op.id)
        self.items = [Item(i, p, labels[i], stems[i]) for i, p in enumerate(paths)]
        self._prepare_all()
        self._classify()

    def _prepare_all(self) -> None:
        """Decode and encode every input (in parallel), refusing unusable files before anything is sent."""
        bad: list[tuple[Item, HDRedrawError]] = []
        kept = [0]
        lock = threading.Lock()

        def one(i: int) -> None:
            item = self.items[i]
            try:
                ready = self._read(item)
            except HDRedrawError as exc:
                with lock:
                    bad.append((item, exc))
                return
            item.upload_sha256 = hashlib.sha256(ready.upload.data).hexdigest()
            item.fingerprint = self.client.fingerprint(self.op, ready.upload, self.values, self.variation)
            item.notes = ready.notes
            with lock:
                if kept[0] + len(ready.upload.data) <= MEMORY_BUDGET:
                    kept[0] += len(ready.upload.data)
                    item.upload = ready.upload

        Workers(one, len(self.items), os.cpu_count() or 2, threading.Event(), "hdredraw-read").wait()
        if bad:
            bad.sort(key=lambda b: b[0].index)
            if not self.args.skip_bad_inputs:
                lines_en = [f"  {item.label}: {exc.en}" for item, exc in bad[:20]]
                lines_zh = [f"  {item.label}:{exc.zh}" for item, exc in bad[:20]]
                more = len(bad) - 20
                tail_en = f"\n  … and {more} more" if more > 0 else ""
                tail_zh = f"\n  …… 另有 {more} 个" if more > 0 else ""
                raise errors.ValidationError(
                    f"{len(bad)} input file(s) cannot be used; nothing was sent:\n" + "\n".join(lines_en) + tail_en
                    + "\nFix or remove them, or add --skip-bad-inputs to run the others.",
                    f"{len(bad)} 个输入文件无法使用;未发送任何请求:\n" + "\n".join(lines_zh) + tail_zh
                    + "\n请修正或移除这些文件,或加 --skip-bad-inputs 只处理其余文件。")
            for item, exc in bad:
                self.warn(Text(f"skipped {item.label}: {exc.en}", f"已跳过 {item.label}:{exc.zh}"))
            skipped = {item.index for item, _ in bad}
            self.items = [dataclasses.replace(it, index=k) for k, it in
                          enumerate(it for it in self.items if it.index not in skipped)]
            if not self.items:
                raise errors.ValidationError("No usable input files; nothing was sent.", "没有可用的输入文件;未发送请求。")

    def _read(self, item: Item) -> codecs.InputImage:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise errors.ValidationError(f"Cannot read the file ({exc.strerror or exc}).",
                                         f"无法读取文件({exc.strerror or exc})。") from None
        return codecs.read_input(data, name=item.path.stem[:60] or "image")

    def _classify(self) -> None:
        """Per unique request: what the journal already knows about it."""
        first: dict[str, int] = {}
        for item in self.items:
            k = first.setdefault(item.fingerprint, item.index)
            item.first = k
            if k != item.index:
                item.plan = "copy"
                continue
            entry = self.journal.latest(item.fingerprint)
            if entry is None or entry.status == FAILED:
                item.plan = "new"
            elif entry.status == DONE:
                item.plan, item.known_task = "reuse", entry.task_id
            elif entry.status == PENDING:
                item.plan, item.known_task = "resume", entry.task_id
            else:  # uncertain, or submitting (a run ended mid-request)
                item.plan, item.known_task = "uncertain", entry.task_id
        self.unique = [it for it in self.items if it.first == it.index]
        self.copies: dict[int, list[Item]] = {}
        for it in self.items:
            self.copies.setdefault(it.first, []).append(it)
        self.new_count = sum(1 for it in self.unique if it.plan == "new")

    def output_conflicts(self) -> list[Path]:
        """Existing files that a task still to be paid for (or resumed) would have to replace.

        Reused results cost nothing, so they are not checked here: when they are written, a file with the
        same bytes is left as it is and a different one is never replaced (the result goes beside it).
        """
        if self.args.overwrite:
            return []
        listings: dict[Path, list[str]] = {}
        found: list[Path] = []
        for item in self.items:
            if self.items[item.first].plan not in ("new", "resume"):
                continue
            folder = self.out / item.stem.parent
            if folder not in listings:
                try:
                    listings[folder] = os.listdir(folder)
                except OSError:
                    listings[folder] = []
            if listings[folder]:
                found += result_files.conflicts(folder, item.stem.name, None, listings[folder])
        return found

    # ------------------------------------------------------------------ estimates

    def entries(self) -> list[Any]:
        try:
            return self.journal.recent(prices.HISTORY)
        except HDRedrawError:
            return []

    def cost(self, entries: list[Any] | None = None) -> prices.Cost:
        entries = self.entries() if entries is None else entries
        price = prices.learn(entries).get((self.op.service, self.op.id), prices.Price(self.op.service, self.op.id))
        balance = prices.last_balance(entries, self.op.service)
        return prices.cost(price, self.new_count, balance)

    # ------------------------------------------------------------------ dry run

    def check_before_sending(self) -> None:
        cap = self.settings.max_new_tasks
        if self.new_count > cap:
            cost = self.cost()
            raise errors.SpendGuardError(
                f"This command would start {self.new_count} new paid task(s) ({cost.text('en')}), more than the "
                f"spend guard allows ({cap} per command). Nothing was sent. Run it with --max-new-tasks "
                f"{self.new_count} (or set HDREDRAW_MAX_NEW_TASKS); --dry-run shows the plan.",
                f"本命令将新建 {self.new_count} 个付费任务({cost.text('zh')}),超过消费保护上限(每条命令 {cap} 个)。"
                f"未发送任何请求。请加 --max-new-tasks {self.new_count}(或设置 HDREDRAW_MAX_NEW_TASKS)后运行;"
                "--dry-run 可先查看计划。")
        clashes = self.output_conflicts()
        if clashes:
            text = _conflict_text(clashes, dry=False)
            raise errors.ValidationError(text.en, text.zh)

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

