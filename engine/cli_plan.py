"""Phase 1 of `hdredraw run`, the plan: inputs read and made ready, each request's fate looked up in the
journal, output files checked, the cost estimated.  Nothing is sent here (see `cli_run` for the phases).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from . import config, errors, input_files, prices, result_files, specs
from .cli_inputs import Item, Workers, _labels, collect_inputs
from .cli_texts import _conflict_text
from .errors import HDRedrawError
from .jobs import Client
from .journal import DONE, FAILED, PENDING, open_journal
from .text import Text

MEMORY_BUDGET = 512 * 1024 * 1024  # upload bytes kept between planning and sending; beyond, files are re-read


class RunPlan:
    """The planning half of `cli_run.Run` (it uses the run's options and output helpers)."""

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

    def _read(self, item: Item) -> input_files.InputImage:
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise errors.ValidationError(f"Cannot read the file ({exc.strerror or exc}).",
                                         f"无法读取文件({exc.strerror or exc})。") from None
        return input_files.read_input(data, name=item.path.stem[:60] or "image")

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

