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
import glob
import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any

from . import codecs, config, errors, prices, result_files, specs
from .console import Display, LiveDisplay, elapsed_text, is_terminal, make_display
from .errors import HDRedrawError
from .jobs import Client
from .journal import DONE, FAILED, PENDING, SUBMITTING, UNCERTAIN, Journal
from .progress import Progress, TaskResult
from .spend import SpendGuard
from .text import Text, language

MEMORY_BUDGET = 512 * 1024 * 1024  # upload bytes kept between planning and sending; beyond, files are re-read
TICK = 0.2  # how often the main thread looks up from waiting (Ctrl-C, progress)

# What became of an input.
DONE_NEW, RESUMED, REUSED, FAILED_, UNCERTAIN_, PENDING_, NOT_STARTED = (
    "done", "resumed", "reused", "failed", "uncertain", "pending", "not started")


@dataclass
class Item:
    """One input file, its plan and what became of it."""

    index: int
    path: Path
    label: str
    stem: PurePath
    upload: codecs.Encoded | None = None
    upload_sha256: str = ""
    fingerprint: str = ""
    notes: list[Text] = field(default_factory=list)
    plan: str = "new"  # new / reuse / resume / uncertain / copy
    first: int = -1  # the item whose task this one shares (identical image and settings)
    known_task: str | None = None
    # outcome
    status: str = NOT_STARTED
    task_id: str | None = None
    error: HDRedrawError | None = None
    written: list[result_files.Written] = field(default_factory=list)
    result_notes: list[Text] = field(default_factory=list)
    seconds: float = 0.0
    paid: bool = False  # a new submission was sent for it in this run
    submitting: bool = False
    reused_seen: bool = False


# --------------------------------------------------------------------------- inputs

def image_extensions() -> frozenset[str]:
    """File extensions of every format Pillow can open (what a folder is searched for)."""
    from PIL import Image

    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def collect_inputs(raw: Sequence[str], recursive: bool = False, exclude: Path | None = None) -> list[Path]:
    """Files from the arguments: files as given, folders searched for images (sub-folders with
    `recursive`), glob patterns expanded here as well (Windows shells leave them to the program).  The output
    folder and hidden files are skipped; each file counts once."""
    exts = image_extensions()
    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    missing: list[str] = []
    empty: list[str] = []
    for arg in raw:
        p = Path(arg)
        if p.is_dir():
            files = _walk(p, recursive, exts, skip)
            (found.extend(files) if files else empty.append(arg))
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(arg):
            matches = [Path(m) for m in sorted(glob.glob(arg, recursive=recursive))]
            files = [m for m in matches if m.is_file() and m.suffix.lower() in exts and not _hidden(m)]
            for m in matches:
                if m.is_dir():
                    files.extend(_walk(m, recursive, exts, skip))
            (found.extend(files) if files else empty.append(arg))
        else:
            missing.append(arg)
    if missing:
        names = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise errors.ValidationError(f"Input not found: {names}. Nothing was sent.",
                                     f"找不到输入:{names}。未发送请求。")
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in found:
        key = p.resolve()
        if key in seen or (skip is not None and _inside(key, skip)):
            continue
        seen.add(key)
        unique.append(p)
    if not unique:
        where = ", ".join(empty) if empty else " ".join(raw)
        raise errors.ValidationError(
            f"No image files in {where}" + ("" if recursive else " (add -r to search sub-folders)") + ".",
            f"{where} 中没有图像文件" + ("" if recursive else "(加 -r 可搜索子文件夹)") + "。")
    return unique


def _walk(folder: Path, recursive: bool, exts: frozenset[str], skip: Path | None) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (skip is not None and _inside((here / d).resolve(), skip))) if recursive else []
        out.extend(here / f for f in sorted(files) if not f.startswith(".") and Path(f).suffix.lower() in exts)
    return out


def _hidden(p: Path) -> bool:
    return p.name.startswith(".")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short names to show: the path below the inputs' common folder."""
    try:
        base = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    except ValueError:
        return [str(p) for p in paths]
    return [p.resolve().relative_to(base).as_posix() for p in paths]


# --------------------------------------------------------------------------- threads

class Workers:
    """Daemon threads running `job(i)` for i in 0..count-1 until all are done or the run is cancelled.

    Daemon threads, not an executor: an executor's threads are joined at exit, which is what kept Ctrl-C
    waiting for every task.  Waiting is on an Event, not `Thread.join`: a join that Ctrl-C interrupts can
    mark a running thread as stopped (CPython bpo-45274), and then nothing would wait for it.
    """

    def __init__(self, job: Callable[[int], None], count: int, workers: int, cancel: threading.Event, name: str):
        self._lock = threading.Lock()
        self._queue = iter(range(count))
        self._job = job
        self._cancel = cancel
        n = max(1, min(workers, count)) if count else 0
        self._alive = n
        self.finished = threading.Event()
        if n == 0:
            self.finished.set()
        for k in range(n):
            threading.Thread(target=self._loop, name=f"{name}-{k}", daemon=True).start()

    def _loop(self) -> None:
        try:
            while not self._cancel.is_set():
                with self._lock:
                    i = next(self._queue, None)
                if i is None:
                    return
                self._job(i)
        finally:
            with self._lock:
                self._alive -= 1
                if self._alive == 0:
                    self.finished.set()

    def wait(self) -> None:
        """Wait in short slices, so Ctrl-C reaches the main thread at once (on Windows too)."""
        while not self.finished.wait(TICK):
            pass


# --------------------------------------------------------------------------- the command

class Run:
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
        self.journal = Journal(config.data_dir(), settings.cache_mb)
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

    def dry_run(self) -> int:
        lang = self.lang
        what = {
            "new": Text("new task (paid)", "新任务(付费)"),
            "reuse": Text("reuse the finished task {t} (no charge)", "复用已完成的任务 {t}(不扣费)"),
            "resume": Text("resume task {t}, submitted earlier (no charge)", "继续之前提交的任务 {t}(不扣费)"),
            "uncertain": Text("not sent: an earlier attempt may have been charged (change --variation to submit "
                              "anew)", "不发送:之前的请求可能已扣费(如需重新提交请修改 --variation)"),
            "copy": Text("same image and settings as {f}: shares its task (no charge)",
                         "与 {f} 的图片和参数相同:共用其任务(不扣费)"),
        }
        self.say(Text(f"Dry run: {self.op.id} on {len(self.items)} input(s); nothing is sent.",
                      f"试运行:对 {len(self.items)} 个输入执行 {self.op.id};不发送任何请求。"))
        for item in self.items:
            text = what[item.plan].get(lang).format(t=item.known_task or "?", f=self.items[item.first].label)
            target = (self.out / item.stem).as_posix()
            self.say(f"  {item.label} -> {target}.*: {text}")
            self.record({"type": "plan", "input": str(item.path), "plan": item.plan, "task_id": item.known_task,
                         "same_as": str(self.items[item.first].path) if item.plan == "copy" else None,
                         "output": target, "notes": [n.get(lang) for n in item.notes]})
        entries = self.entries()
        cost = self.cost(entries)
        balance = prices.last_balance(entries, self.op.service)
        self.say(Text("Would submit: ", "将提交:").get(lang) + cost.text(lang))
        if balance is not None:
            self.say(_balance_text(balance, lang))
        cap = self.settings.max_new_tasks
        if self.new_count > cap:
            self.say(Text(f"The spend guard allows {cap} new task(s) per command: run with --max-new-tasks "
                          f"{self.new_count}.", f"消费保护每条命令最多新建 {cap} 个任务:请加 --max-new-tasks "
                          f"{self.new_count} 运行。"))
        clashes = self.output_conflicts()
        if clashes:
            self.say(_conflict_text(clashes, dry=True).get(lang))
        self.record({"type": "summary", "dry_run": True, "inputs": len(self.items), "new_tasks": self.new_count,
                     "estimate": cost.text("en"), "price_known": cost.price.known,
                     "conflicts": [str(p) for p in clashes]})
        return 0

    # ------------------------------------------------------------------ phase 2: run

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

    def _report(self, item: Item) -> None:
        lang = self.lang
        if self.display is not None:
            self.display.finished(item.index, _STATUS[item.status].get(lang))
        if item.status == NOT_STARTED:
            return
        head = f"{_MARK.get(item.status, '-')} {item.label}: {_STATUS[item.status].get(lang)}"
        if item.task_id:
            head += f" · {'任务' if lang == 'zh' else 'task'} {item.task_id}"
        if item.written:
            head += " -> " + ", ".join(_written_text(w, lang) for w in item.written)
        lines = [head]
        if item.error is not None:
            lines.append("    " + item.error.message(lang).replace("\n", "\n    "))
        for note in [*item.notes, *item.result_notes]:
            lines.append("    " + note.get(lang))
        self.say("\n".join(lines))
        self.record({
            "type": "task", "input": str(item.path), "status": item.status, "task_id": item.task_id,
            "paid": item.paid, "same_as": str(self.items[item.first].path) if item.first != item.index else None,
            "outputs": [str(w.path) for w in item.written],
            "files": [{"path": str(w.path), "action": w.action, "instead_of": str(w.instead_of) if w.instead_of
                       else None} for w in item.written],
            "seconds": round(item.seconds, 2),
            "notes": [n.get(lang) for n in [*item.notes, *item.result_notes]],
            "error": None if item.error is None else {"code": item.error.code, "en": item.error.en,
                                                      "zh": item.error.zh, "free": item.error.free},
        })

    # ------------------------------------------------------------------ Ctrl-C

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

    def summary(self, interrupted: bool) -> None:
        lang = self.lang
        counts = {s: sum(1 for it in self.items if it.status == s) for s in _STATUS}
        entries = self.entries()
        balance_after = prices.last_balance(entries, self.op.service)
        new_paid = sum(1 for it in self.items if it.paid)
        took = elapsed_text(time.monotonic() - self.started, lang)
        parts = [f"{_STATUS[s].get(lang)} {n}" for s, n in counts.items() if n or s in (DONE_NEW, REUSED,
                                                                                         FAILED_, UNCERTAIN_)]
        head = Text(f"{self.op.id}: {len(self.items)} input(s), {len(self.unique)} task(s), {took}.",
                    f"{self.op.id}:{len(self.items)} 个输入,{len(self.unique)} 个任务,用时 {took}。").get(lang)
        lines = [head, "  " + " · ".join(parts)]
        price = prices.learn(entries).get((self.op.service, self.op.id), prices.Price(self.op.service, self.op.id))
        spent = prices.cost(price, new_paid, self.balance_before)
        money = Text("  Spent: ", "  花费:").get(lang) + (spent.text(lang) if new_paid else Text(
            "no new tasks, nothing charged", "没有新任务,未扣费").get(lang))
        lines.append(money)
        if self.balance_before is not None and balance_after is not None and new_paid:
            lines.append("  " + _balance_change(self.balance_before, balance_after, lang))
        elif balance_after is not None:
            lines.append("  " + _balance_text(balance_after, lang))
        for status in (DONE_NEW, RESUMED, REUSED, PENDING_, UNCERTAIN_, FAILED_):
            ids = [it.task_id for it in self.items if it.status == status and it.task_id]
            if ids:
                unique_ids = list(dict.fromkeys(ids))
                shown = ", ".join(unique_ids[:10]) + (f" … (+{len(unique_ids) - 10})" if len(unique_ids) > 10 else "")
                lines.append(f"  {_STATUS[status].get(lang)}: {shown}")
        if interrupted or counts[PENDING_] or counts[UNCERTAIN_] or counts[NOT_STARTED]:
            lines.append(self._resume_text(counts).get(lang))
        self.say("\n".join(lines))
        self.record({"type": "summary", "inputs": len(self.items), "tasks": len(self.unique),
                     "counts": {k.replace(" ", "_"): v for k, v in counts.items()}, "new_paid_tasks": new_paid,
                     "seconds": round(time.monotonic() - self.started, 2), "spent": spent.text("en"),
                     "balance_before": None if self.balance_before is None else dataclasses.asdict(self.balance_before),
                     "balance_after": None if balance_after is None else dataclasses.asdict(balance_after),
                     "interrupted": interrupted})

    def _resume_text(self, counts: dict[str, int]) -> Text:
        command = "hdredraw " + _join(self.argv)
        pending, waiting = counts[PENDING_], counts[NOT_STARTED]
        uncertain = counts[UNCERTAIN_]
        en = [f"To resume, run the same command again:\n    {command}"]
        zh = [f"如需继续,请再次运行相同命令:\n    {command}"]
        if pending:
            en.append(f"{pending} task(s) still running on the service are picked up for free (their ids are in "
                      "the journal: `hdredraw tasks`).")
            zh.append(f"{pending} 个仍在服务端运行的任务将免费继续(任务ID已记录,见 `hdredraw tasks`)。")
        en.append("Finished results are reused at no charge.")
        zh.append("已完成的结果将直接复用,不扣费。")
        if waiting:
            en.append(f"{waiting} input(s) not started yet are submitted then.")
            zh.append(f"{waiting} 个尚未开始的输入届时提交。")
        if uncertain:
            en.append(f"{uncertain} attempt(s) may have been charged without an answer: they are not sent again "
                      "automatically; check your balance (or change --variation to submit anew).")
            zh.append(f"{uncertain} 个请求可能已扣费但未收到答复:不会自动重发;请检查余额(或修改 --variation 重新提交)。")
        return Text("  " + "\n  ".join(en), "  " + "\n  ".join(zh))


_STATUS = {DONE_NEW: Text("done", "完成"), RESUMED: Text("resumed", "继续完成"), REUSED: Text("reused", "复用"),
           FAILED_: Text("failed", "失败"), UNCERTAIN_: Text("uncertain", "不确定"),
           PENDING_: Text("pending", "未完成"), NOT_STARTED: Text("not started", "未开始")}
_MARK = {DONE_NEW: "+", RESUMED: "+", REUSED: "=", FAILED_: "x", UNCERTAIN_: "?", PENDING_: "…"}


def _written_text(w: result_files.Written, lang: str) -> str:
    shown = w.path.as_posix()
    if w.action == "unchanged":
        return shown + (" (已存在,相同)" if lang == "zh" else " (already there, same)")
    if w.action == "replaced":
        return shown + (" (已覆盖)" if lang == "zh" else " (replaced)")
    if w.action == "renamed" and w.instead_of is not None:
        return shown + (f"({w.instead_of.name} 已存在,未覆盖)" if lang == "zh" else
                        f" ({w.instead_of.name} exists and was kept)")
    return shown


def _conflict_text(paths: list[Path], dry: bool) -> Text:
    shown = "\n".join(f"  {p}" for p in paths[:10]) + (f"\n  … (+{len(paths) - 10})" if len(paths) > 10 else "")
    if dry:
        return Text(f"{len(paths)} existing file(s) would be in the way (a real run refuses, unless --overwrite):\n"
                    + shown, f"{len(paths)} 个已存在的文件会冲突(正式运行时将拒绝,除非加 --overwrite):\n" + shown)
    return Text(
        f"{len(paths)} file(s) in the output folder would be replaced; nothing was sent:\n{shown}\nUse another -o "
        "folder, move them away, or add --overwrite to replace them.",
        f"输出文件夹中有 {len(paths)} 个文件会被覆盖;未发送任何请求:\n{shown}\n请换一个 -o 文件夹、移走这些文件,"
        "或加 --overwrite 覆盖。")


def _balance_text(b: prices.Balance, lang: str) -> str:
    age = elapsed_text(max(0.0, time.time() - b.seen_at), lang)
    what = _balance_value(b, lang)
    return f"服务最近报告的余额:{what}({age}前)" if lang == "zh" else f"Balance last reported by the service: {what} ({age} ago)"


def _balance_value(b: prices.Balance, lang: str) -> str:
    bits = []
    if b.count is not None:
        bits.append(f"{b.count:g} 次" if lang == "zh" else f"{b.count:g} tasks")
    if b.money is not None:
        bits.append(f"¥{b.money:g}")
    return " / ".join(bits) or "?"


def _balance_change(before: prices.Balance, after: prices.Balance, lang: str) -> str:
    a, b = _balance_value(before, lang), _balance_value(after, lang)
    return f"服务报告的余额:{a} → {b}" if lang == "zh" else f"Balance reported by the service: {a} → {b}"


def _join(argv: Sequence[str]) -> str:
    if sys.platform == "win32":
        return subprocess.list2cmdline(list(argv))
    import shlex

    return shlex.join(argv)

