"""Submit, poll, download: one paid task from start to finished result.

`Client.run` is the whole journey; `submit`, `wait` and `collect` are its three steps, kept separate so a
journal can record the task id between submit and wait (a result is never lost), and so `fetch` can
collect a task that was submitted earlier (after a timeout, a closed browser, a restart) at no cost.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import codecs, config, errors, specs
from . import journal as journal_mod
from .errors import HDRedrawError, ResultError, SubmitUncertain, TaskFailed
from .progress import (
    STAGE_FRACTION,
    Progress,
    ProgressFn,
    Submission,
    TaskResult,
    _Reporter,
    note_balance,
)
from .redact import get_logger, register_secret
from .specs import HDREDRAW, HIDREAM, Operation, Text
from .spend import Reservation, SpendGuard
from .transport import Context, Transport

log = get_logger("hdredraw.jobs")

# HD Redraw caches status answers for 3 s; asking faster only returns the cached answer. Polling just
# after the cache expires gives a finished task's result at most ~3 s after it finishes.
HDREDRAW_POLL_INTERVAL = 3.1
HIDREAM_POLL_INTERVAL = 2.0
FIRST_POLL_DELAY = 1.0

Image = bytes | np.ndarray | codecs.Encoded | str


class Client:
    """Talks to both services with the resolved settings.  Thread-safe; share one per process.

    With a `journal`, every paid task is recorded before it is polled, finished results are kept, the same
    request is never submitted twice (a re-run reuses or resumes), and a spend guard caps new tasks per run.
    """

    def __init__(self, settings: config.Settings | None = None, journal: journal_mod.JournalBase | None = None):
        self.settings = settings or config.load()
        for s in config.SETTINGS:  # however the settings were made, their secrets are masked in all output
            if s.secret:
                register_secret(getattr(self.settings, s.name))
        self.journal = journal
        self._transports: dict[str, Transport] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    def transport(self, service: str) -> Transport:
        with self._lock:
            if service not in self._transports:
                s = self.settings
                base = s.require_hdredraw()[0] if service == HDREDRAW else s.require_hidream()[0]
                self._transports[service] = Transport(
                    base, name="HD Redraw" if service == HDREDRAW else "HiDream",
                    connect_timeout=s.connect_timeout, read_timeout=s.read_timeout,
                    pool_size=max(8, s.concurrency * 2))
            return self._transports[service]

    def close(self) -> None:
        with self._lock:
            for t in self._transports.values():
                t.close()
            self._transports.clear()
        if self.journal is not None:  # its pooled database connections (it reconnects if used again)
            self.journal.close()

    def context(self, cancel: Callable[[], bool] | None = None, timeout: float | None = None) -> Context:
        return Context.with_timeout(timeout or self.settings.job_timeout, cancel)

    def fingerprint(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any],
                    variation: int = 0) -> str:
        data = upload.data if isinstance(upload, codecs.Encoded) else upload.encode("utf-8")
        return journal_mod.fingerprint(op.service, op.id, op.wire_fields(values), _sha256(data), variation,
                                       self.account(op.service))

    def account(self, service: str) -> str:
        """The journal's name for the configured account of a service (a hash: it reveals no key)."""
        base, secret = self.settings.require_hdredraw() if service == HDREDRAW else self.settings.require_hidream()
        return journal_mod.account_id(base, secret)

    # ------------------------------------------------------------------ the whole journey

    def run(self, op: str | Operation, image: Image, params: Mapping[str, Any] | None = None, *,
            cancel: Callable[[], bool] | None = None, on_progress: ProgressFn | None = None,
            timeout: float | None = None, variation: int = 0, guard: SpendGuard | None = None) -> TaskResult:
        """Validate, upload, wait and download one task (or reuse/resume the journal's record of it).

        `guard` is the spend guard of the scope this call belongs to (a queued prompt, a CLI command); by
        default the call is a scope of its own.
        """
        op = specs.get(op) if isinstance(op, str) else op
        values = op.validate(params or {})
        guard = guard or SpendGuard(self.settings.max_new_tasks)
        return self._run(op, self.prepare(op, image), values, cancel, on_progress, timeout,
                         specs.check_variation(variation), guard.reserve(0))

    def _run(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any],
             cancel: Callable[[], bool] | None, on_progress: ProgressFn | None, timeout: float | None,
             variation: int, reservation: Reservation) -> TaskResult:
        ctx = self.context(cancel, timeout)
        report = _Reporter(on_progress)
        ctx.on_tick = report.tick
        if self.journal is None:
            return self._run_new(op, upload, values, ctx, report, None, variation, reservation)
        fp = self.fingerprint(op, upload, values, variation)
        with self._lease(fp, ctx, report):
            entry = self.journal.latest(fp)
            if entry is not None and entry.status != journal_mod.FAILED:
                return self._from_entry(op, entry, ctx, report)
            return self._run_new(op, upload, values, ctx, report, fp, variation, reservation)

    def run_many(self, op: str | Operation, images: Iterable[Image], params: Mapping[str, Any] | None = None, *,
                 cancel: Callable[[], bool] | None = None, on_progress: Callable[[int, Progress], None] | None = None,
                 concurrency: int | None = None, timeout: float | None = None,
                 variation: int = 0, guard: SpendGuard | None = None) -> list[TaskResult | HDRedrawError]:
        """Run one task per distinct image, at most `concurrency` at once; results come back in input order.

        Checked before anything is sent: parameters, configuration, and the spend guard (new paid tasks this
        scope may still start).  Identical images in one call are one task: the copies wait for it and reuse
        its result.  A failed image gives its error in its slot; the others still finish.
        """
        op = specs.get(op) if isinstance(op, str) else op
        values = op.validate(params or {})  # fail before any upload if a parameter is wrong
        variation = specs.check_variation(variation)
        self.transport(op.service)  # ... or if the service is not configured
        items = list(images)
        workers = max(1, min(concurrency or self.settings.concurrency, len(items) or 1))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdredraw-encode") as pool:
            uploads = list(pool.map(lambda image: self.prepare(op, image), items))  # zlib runs without the GIL
        keys = [self.fingerprint(op, u, values, variation) for u in uploads]
        first: dict[str, int] = {}
        unique = [i for i, k in enumerate(keys) if first.setdefault(k, i) == i]
        new = sum(1 for i in unique if self.journal is None or self._needs_submission(keys[i]))
        guard = guard or SpendGuard(self.settings.max_new_tasks)
        reservation = guard.reserve(new)
        copies = {i: [j for j, k in enumerate(keys) if k == keys[i]] for i in unique}

        def report(slot: int, progress: Progress) -> None:
            if on_progress is not None:
                for j in copies[unique[slot]]:
                    on_progress(j, progress)

        try:
            outcomes = _each([uploads[i] for i in unique], workers, report, lambda upload, cb: self._run(
                op, upload, values, cancel, cb, timeout, variation, reservation))
        finally:
            reservation.release()
        by_index = dict(zip(unique, outcomes, strict=True))
        return [by_index[i] if i in by_index else _copy_of(by_index[first[k]], first[k])
                for i, k in enumerate(keys)]

    def fetch_many(self, task_ids: list[str], service: str = HDREDRAW, *, cancel: Callable[[], bool] | None = None,
                   on_progress: Callable[[int, Progress], None] | None = None,
                   concurrency: int | None = None) -> list[TaskResult | HDRedrawError]:
        """`fetch` for several task ids at once, in order; a failed id gives its error in its slot."""
        self.transport(service)  # a missing base URL or token fails here, before anything else
        workers = max(1, min(concurrency or self.settings.concurrency, len(task_ids) or 1))
        return _each(task_ids, workers, on_progress, lambda task_id, cb: self.fetch(
            task_id, service=service, cancel=cancel, on_progress=cb))

    def fetch(self, task_id: str, service: str = HDREDRAW, *, cancel: Callable[[], bool] | None = None,
              on_progress: ProgressFn | None = None, timeout: float | None = None, wait: bool = True,
              op_id: str | None = None) -> TaskResult:
        """Collect an earlier task's results again (no new task, no charge); kept results need no network."""
        task_id = specs.get("check_task_status").field("task_id").coerce(str(task_id).strip())
        op = specs.get(op_id) if op_id else specs.get("check_task_status" if service == HDREDRAW
                                                      else "hidream_vectorize")
        ctx = self.context(cancel, timeout)
        ctx.task_id = task_id
        report = _Reporter(on_progress)
        ctx.on_tick = report.tick
        entry = self.journal.by_task_id(task_id) if self.journal is not None else None
        if entry is not None and entry.status == journal_mod.DONE:
            kept = self._kept(entry, report)
            if kept is not None:
                return kept
        report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=task_id)
        status = self.wait(op, task_id, ctx, report, first_delay=0.0) if wait else {}
        result = self.collect(op, status, ctx, report)
        if self.journal is not None:
            self.journal.finished(self.journal.adopt(service, op.id, task_id, self.account(service)), result)
        return result

    # ------------------------------------------------------------------ journal paths

    def _needs_submission(self, fp: str) -> bool:
        assert self.journal is not None
        entry = self.journal.latest(fp)
        return entry is None or entry.status == journal_mod.FAILED

    @contextmanager
    def _lease(self, fp: str, ctx: Context, report: _Reporter) -> Iterator[None]:
        """Hold the fingerprint's lease (waiting while another run holds it), renewing it while we work."""
        assert self.journal is not None
        journal = self.journal
        holder = journal.new_holder()
        waiting = False
        while not journal.try_lease(fp, holder):
            if not waiting:
                waiting = True
                report.update(note=Text("Waiting: the same request is running in another run",
                                        "等待:相同请求正在另一次运行中处理").get(errors.preferred_language()))
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

    def _kept(self, entry: journal_mod.Entry, report: _Reporter) -> TaskResult | None:
        assert self.journal is not None
        files = self.journal.load_files(entry)
        if files is None:
            return None
        result = TaskResult(entry.task_id or "", entry.op_id, entry.service, images=files["images"],
                            grid=files["grid"], image_1x=files["image_1x"], vector=files["vector"],
                            svgs=files["svgs"], prompt=files["prompt"], urls=files["urls"],
                            remaining_count=entry.remaining_count, remaining_money=entry.remaining_money)
        note = Text(f"Reused the result of task {entry.task_id}: no new charge.",
                    f"复用任务 {entry.task_id} 的结果:未重复扣费。")
        result.notes.append(note)
        report.update(stage="done", fraction=1.0, task_id=entry.task_id, reused=True,
                      note=note.get(errors.preferred_language()))
        return result

    def _from_entry(self, op: Operation, entry: journal_mod.Entry, ctx: Context, report: _Reporter) -> TaskResult:
        """Reuse a finished task, resume a pending one, or refuse to resend an uncertain one."""
        assert self.journal is not None
        lang = errors.preferred_language()
        if entry.status == journal_mod.DONE:
            kept = self._kept(entry, report)
            if kept is not None:
                return kept
            note = Text(f"Fetching task {entry.task_id} again (no kept copy on this machine): no new charge.",
                        f"重新获取任务 {entry.task_id} 的结果(本机没有保存的副本):未重复扣费。")
        elif entry.status == journal_mod.PENDING:
            note = Text(f"Resuming task {entry.task_id}, submitted earlier: no new charge.",
                        f"继续等待之前提交的任务 {entry.task_id}:未重复扣费。")
        else:  # submitting (its run died mid-request) or uncertain
            if entry.status == journal_mod.SUBMITTING:
                self.journal.set_status(entry.id, journal_mod.UNCERTAIN, "run ended during submit")
            raise errors.earlier_uncertain(entry.created_at, entry.task_id)
        assert entry.task_id
        report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=entry.task_id, note=note.get(lang))
        self._plan_eta(op, report, entry.submitted_at)
        try:
            status = self.wait(op, entry.task_id, ctx, report, first_delay=0.0)
        except TaskFailed as exc:
            self.journal.set_status(entry.id, journal_mod.FAILED, exc.code)
            raise
        result = self.collect(op, status, ctx, report)
        result.notes.append(note)
        self.journal.finished(entry.id, result)
        return result

    def _plan_eta(self, op: Operation, report: _Reporter, submitted_wall: float | None = None) -> None:
        if self.journal is None:
            return
        median = self.journal.median_duration(op.id)
        if median is not None:
            report.eta_total = median
            age = time.time() - submitted_wall if submitted_wall else 0.0
            report.submitted_at = time.monotonic() - max(0.0, age)

    def _run_new(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any], ctx: Context,
                 report: _Reporter, fp: str | None, variation: int, reservation: Reservation) -> TaskResult:
        """Submit a new task and see it through, recording each step in the journal.

        The journal row is written before anything is sent (so a journal that cannot be written stops the
        run before it costs anything), and its status says what is known: failed only when nothing can have
        been created, uncertain when the submit may have reached the service.
        """
        journal = self.journal if fp is not None else None
        reservation.take()  # the spend guard, before anything is recorded or sent
        entry_id = None
        if journal is not None:
            assert fp is not None
            upload_sha = _sha256(upload.data) if isinstance(upload, codecs.Encoded) else None
            try:
                entry_id = journal.start(fp, op.service, op.id, op.wire_fields(values), upload_sha, variation,
                                         self.account(op.service))
            except HDRedrawError:
                reservation.refund()
                raise
        try:
            sub = self.submit(op, upload, values, ctx, report,
                              on_late_answer=_late_recorder(journal, entry_id) if journal else None)
        except SubmitUncertain as exc:
            _mark(journal, entry_id, journal_mod.UNCERTAIN, exc.code, only_if=journal_mod.SUBMITTING)
            raise
        except HDRedrawError as exc:  # nothing left the machine, or the service refused: nothing was created
            _mark(journal, entry_id, journal_mod.FAILED, exc.code)
            reservation.refund()
            raise
        except BaseException:  # an interrupt from outside: it may have been on the wire
            _mark(journal, entry_id, journal_mod.UNCERTAIN, "interrupted", only_if=journal_mod.SUBMITTING)
            raise
        if journal is not None:
            try:
                journal.submitted(entry_id, sub.task_id, sub.remaining_count, sub.remaining_money)
            except HDRedrawError as exc:
                raise errors.unrecorded_task(sub.task_id, exc) from None
        self._plan_eta(op, report)
        try:
            status = self.wait(op, sub.task_id, ctx, report)
        except TaskFailed as exc:
            _mark(journal, entry_id, journal_mod.FAILED, exc.code)
            raise
        result = self.collect(op, status, ctx, report)
        if sub.upload_note:
            result.notes.insert(0, sub.upload_note)
        if journal is not None:
            self._keep(journal, entry_id, result)
        return result

    def _keep(self, journal: journal_mod.Journal, entry_id: int, result: TaskResult) -> None:
        """Record a finished result; if the journal fails now, the result in hand is still returned."""
        try:
            journal.finished(entry_id, result)
        except HDRedrawError as exc:
            log.warning("finished task %s could not be kept: %s", result.task_id, exc.en)
            result.notes.append(Text(
                f"The result could not be kept in the journal ({exc.en}); Fetch Task {result.task_id} returns it "
                "again for free.", f"结果未能保存到任务记录({exc.zh});可用“获取任务结果”免费取回任务 {result.task_id}。"))

    # ------------------------------------------------------------------ step 1: upload

    def prepare(self, op: Operation, image: Image) -> codecs.Encoded | str:
        """Encode an array for upload (PNG, JPEG/downscale fallback for the 16 MB limit)."""
        if isinstance(image, codecs.Encoded):
            return image
        if isinstance(image, str):
            if op.service == HIDREAM and image.startswith(("http://", "https://")):
                return image
            raise errors.ValidationError(
                "Only HiDream accepts an image URL; give the image itself.", "只有 HiDream 支持图片 URL;请提供图片本身。")
        if isinstance(image, (bytes, bytearray)):
            kind = codecs.sniff(bytes(image))
            if kind not in ("png", "jpeg", "webp"):
                raise errors.ValidationError("The input file is not a PNG, JPEG or WebP image.",
                                             "输入文件不是 PNG、JPEG 或 WebP 图片。")
            if len(image) <= codecs.MAX_UPLOAD_BYTES:
                w, h = codecs.image_size(bytes(image))
                return codecs.Encoded(bytes(image), f"image/{kind}", f"image.{kind}", w, h)
            image = codecs.decode_image(bytes(image))
        return codecs.encode_upload(np.asarray(image))

    # ------------------------------------------------------------------ step 2: submit

    def submit(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any], ctx: Context,
               report: _Reporter | None = None,
               on_late_answer: Callable[[dict[str, Any]], None] | None = None) -> Submission:
        """Create the task.  Never repeated once it may have reached the service."""
        report = report or _Reporter(None)
        report.update(stage="submitting", fraction=STAGE_FRACTION["submitting"],
                      note=upload.note.get(errors.preferred_language()) if isinstance(upload, codecs.Encoded)
                      and upload.note else "")
        if op.service == HDREDRAW:
            sub = self._submit_hdredraw(op, upload, values, ctx, on_late_answer)
        else:
            sub = self._submit_hidream(op, upload, values, ctx, on_late_answer)
        ctx.task_id = sub.task_id
        if isinstance(upload, codecs.Encoded):
            sub.upload_note = upload.note
        log.info("%s submitted: task %s", op.id, sub.task_id)
        report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=sub.task_id,
                      remaining_count=sub.remaining_count, remaining_money=sub.remaining_money)
        return sub

    def _submit_hdredraw(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any],
                         ctx: Context, on_late: Callable[[dict[str, Any]], None] | None) -> Submission:
        assert isinstance(upload, codecs.Encoded)
        _, key = self.settings.require_hdredraw()
        data = {"user_key": key, **op.wire_fields(values)}
        files = {op.image_field.name: (upload.filename, upload.data, upload.mime)}
        answer = self.transport(HDREDRAW).submit(op.endpoint, ctx, data=data, files=files, on_late_answer=on_late)
        if answer.get("err_code") != 0 or not answer.get("task_id"):
            raise errors.from_hdredraw(str(answer.get("err_msg") or ""), submitting=True)
        note_balance(answer)
        return Submission(op.id, HDREDRAW, _service_task_id(answer["task_id"]), answer.get("remaining_count"),
                          answer.get("remaining_money"))

    def _submit_hidream(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any],
                        ctx: Context, on_late: Callable[[dict[str, Any]], None] | None) -> Submission:
        _, token = self.settings.require_hidream()
        image = upload if isinstance(upload, str) else codecs.to_base64(upload.data)
        body = {"image": image, **op.wire_fields(values)}
        answer = self.transport(HIDREAM).submit(op.endpoint, ctx, json_body=body, headers=_bearer(token),
                                                on_late_answer=on_late)
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        if answer.get("code") != 0 or not result.get("task_id"):
            raise errors.from_hidream(answer.get("code"), str(answer.get("message") or ""))
        return Submission(op.id, HIDREAM, _service_task_id(result["task_id"]))

    # ------------------------------------------------------------------ step 3: wait

    def wait(self, op: Operation, task_id: str, ctx: Context, report: _Reporter | None = None,
             first_delay: float | None = None) -> dict[str, Any]:
        """Poll until the task finishes; returns the final status answer."""
        report = report or _Reporter(None)
        ctx.task_id = task_id
        ctx.sleep(FIRST_POLL_DELAY if first_delay is None else first_delay)
        if op.service == HDREDRAW:
            return self._wait_hdredraw(task_id, ctx, report)
        return self._wait_hidream(task_id, ctx, report)

    def _wait_hdredraw(self, task_id: str, ctx: Context, report: _Reporter) -> dict[str, Any]:
        _, key = self.settings.require_hdredraw()
        status_op = specs.get("check_task_status")
        unknown_in_a_row = 0
        while True:
            asked = time.monotonic()
            answer = self.transport(HDREDRAW).query("POST", status_op.endpoint, ctx,
                                                    data={"user_key": key, "task_id": task_id})
            if answer.get("err_code") != 0:
                raise errors.from_hdredraw(str(answer.get("err_msg") or ""), task_id=task_id, submitting=False)
            status = answer.get("status")
            word = str(status or "").strip().lower()
            if word == "completed":
                note_balance(answer)
                return answer
            if word in ("failed", "failure", "error", "cancelled", "canceled"):
                raise TaskFailed(
                    f"The service reported that the task failed (status {status}). Try a different image or "
                    "settings; if you were charged, contact the service with the task id.",
                    f"服务报告任务失败(状态 {status})。请尝试其他图片或参数;如已扣费,请带上任务ID联系服务商。",
                    task_id=task_id, upstream=str(status))
            unknown_in_a_row = unknown_in_a_row + 1 if status is None else 0
            if unknown_in_a_row >= 3:
                raise TaskFailed(
                    "The service keeps reporting no status for this task. Try Fetch Task later; if it never "
                    "finishes, contact the service with the task id.",
                    "服务持续未返回该任务的状态。请稍后用“获取任务结果”重试;如一直无结果,请带上任务ID联系服务商。",
                    task_id=task_id)
            stage = "queued" if word in ("pending", "queued", "queue", "waiting", "submitted", "") else "processing"
            report.update(stage=stage, fraction=STAGE_FRACTION[stage], status=str(status or ""))
            ctx.sleep(max(0.0, asked + HDREDRAW_POLL_INTERVAL - time.monotonic()))

    def _wait_hidream(self, task_id: str, ctx: Context, report: _Reporter) -> dict[str, Any]:
        _, token = self.settings.require_hidream()
        status_op = specs.get("hidream_results")
        while True:
            asked = time.monotonic()
            answer = self.transport(HIDREAM).query("GET", status_op.endpoint, ctx, params={"task_id": task_id},
                                                   headers=_bearer(token))
            if answer.get("code") != 0:
                message = str(answer.get("message") or "")
                if "not found" in message.lower() or "不存在" in message:
                    raise errors.TaskNotFound(
                        "HiDream does not know this task (wrong id, another account, or expired).",
                        "HiDream 未找到该任务(任务ID错误、属于其他账户或已过期)。", task_id=task_id,
                        upstream=f"code {answer.get('code')}: {message}")
                raise errors.from_hidream(answer.get("code"), message, task_id=task_id)
            result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
            subs = [s for s in result.get("sub_task_results") or [] if isinstance(s, dict)]
            codes = [int(s.get("task_status", 0) or 0) for s in subs]
            if 4 in codes:
                raise errors.ModerationRejected(
                    "HiDream's content review rejected this image (status 4). Use a different image.",
                    "HiDream 内容审核未通过该图片(状态 4)。请更换图片。", task_id=task_id, upstream="task_status 4")
            if 3 in codes:
                raise TaskFailed(
                    "HiDream reported that the task failed (status 3). Try again or use mode 'fast'/'slow' "
                    "the other way round.", "HiDream 报告任务失败(状态 3)。请重试,或换用另一种模式。",
                    task_id=task_id, upstream="task_status 3")
            if subs and all(c == 1 for c in codes):
                return answer
            fractions = [float(s.get("task_completion") or 0.0) for s in subs]
            fraction = min(0.99, max(0.0, sum(fractions) / len(fractions))) if fractions else 0.0
            stage = "queued" if not codes or all(c == 0 for c in codes) else "processing"
            report.update(stage=stage, fraction=fraction, exact=True, status=f"{fraction * 100:.0f}%")
            ctx.sleep(max(0.0, asked + HIDREAM_POLL_INTERVAL - time.monotonic()))

    # ------------------------------------------------------------------ step 4: download

    def collect(self, op: Operation, status: Mapping[str, Any], ctx: Context,
                report: _Reporter | None = None) -> TaskResult:
        """Download every result the finished task offers."""
        report = report or _Reporter(None)
        report.update(stage="downloading", fraction=STAGE_FRACTION["downloading"], exact=False)
        task_id = ctx.task_id or ""
        if op.service == HIDREAM:
            result = self._collect_hidream(op, status, ctx, task_id)
        else:
            result = self._collect_hdredraw(op, status, ctx, task_id)
        report.update(stage="done", fraction=1.0, remaining_count=result.remaining_count,
                      remaining_money=result.remaining_money)
        return result

    def _download(self, service: str, url: str, ctx: Context, check: Callable[[bytes], None]) -> bytes:
        return self.transport(service).download(url, ctx, max_bytes=self.settings.max_result_mb * 1048576,
                                                validate=check)

    def _collect_hdredraw(self, op: Operation, status: Mapping[str, Any], ctx: Context, task_id: str) -> TaskResult:
        urls = status.get("images_urls")
        image_urls = [u for u in urls if u] if isinstance(urls, list) and urls else (
            [status["images_url"]] if status.get("images_url") else [])
        found = {"images": image_urls, "grid": status.get("grid_url") or "",
                 "image_1x": status.get("images_url_1m") or "", "vector": status.get("vector_url") or ""}
        if not image_urls and not found["vector"]:
            raise ResultError(
                "The task finished but the service gave no result address. Try Fetch Task again shortly.",
                "任务已完成,但服务未返回结果地址。请稍后用“获取任务结果”重试。", task_id=task_id)
        result = TaskResult(task_id, op.id, HDREDRAW, prompt=str(status.get("generated_prompt") or ""),
                            urls=found, remaining_count=status.get("remaining_count"),
                            remaining_money=status.get("remaining_money"))
        result.images = [self._download(HDREDRAW, u, ctx, codecs.check_image) for u in image_urls]
        if found["grid"]:
            result.grid = self._download(HDREDRAW, found["grid"], ctx, codecs.check_image)
        if found["image_1x"]:
            result.image_1x = self._download(HDREDRAW, found["image_1x"], ctx, codecs.check_image)
        if found["vector"]:
            result.vector = self._download(HDREDRAW, found["vector"], ctx, codecs.check_vector("eps"))
        return result

    def _collect_hidream(self, op: Operation, status: Mapping[str, Any], ctx: Context, task_id: str) -> TaskResult:
        result_block = status.get("result") if isinstance(status.get("result"), dict) else {}
        subs = [s for s in result_block.get("sub_task_results") or [] if isinstance(s, dict)]
        images = [str(s.get("image") or "") for s in subs]
        result = TaskResult(task_id, op.id, HIDREAM, urls={"svg": images})
        for image in images:
            if image.lstrip().startswith("<"):
                result.svgs.append(image.encode("utf-8"))  # inline markup instead of a URL
            elif image:
                result.svgs.append(self._download(HIDREAM, image, ctx, codecs.check_vector("svg")))
        if not result.svgs:
            raise ResultError("HiDream finished the task but returned no SVG.", "HiDream 任务已完成,但未返回 SVG。",
                              task_id=task_id)
        return result


def _service_task_id(value: Any) -> str:
    """The id of a task the service just created; one that is unusable still means a task may exist."""
    try:
        return specs.check_task_id(value, from_service=True)
    except errors.ValidationError as exc:
        raise SubmitUncertain(
            exc.en + " The task may have been created and charged; it was NOT submitted again. Check your task "
            "list with the service.", exc.zh + "任务可能已创建并扣费,未重新提交。请向服务商核对任务列表。") from None


def _mark(journal: journal_mod.Journal | None, entry_id: int | None, status: str, error: str,
          only_if: str | None = None) -> None:
    """Set a row's status while an error is already on its way: a journal failure must not replace it."""
    if journal is None or entry_id is None:
        return
    try:
        journal.set_status(entry_id, status, error, only_if=only_if)
    except HDRedrawError:
        log.warning("journal row %s could not be marked %s", entry_id, status)


def _late_recorder(journal: journal_mod.Journal, entry_id: int | None) -> Callable[[dict[str, Any]], None]:
    """What to do with a submit's answer that arrives after the run stopped waiting for it (Cancel)."""
    def late(answer: dict[str, Any]) -> None:
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        task_id = answer.get("task_id") or result.get("task_id")
        if answer.get("err_code", answer.get("code")) != 0:  # refused: nothing was created
            journal.set_status(entry_id, journal_mod.FAILED, "refused",
                               only_if=(journal_mod.SUBMITTING, journal_mod.UNCERTAIN))
        elif task_id:
            journal.submitted(entry_id, specs.check_task_id(task_id, from_service=True),
                              answer.get("remaining_count"), answer.get("remaining_money"))
    return late


def _copy_of(outcome: TaskResult | HDRedrawError, index: int) -> TaskResult | HDRedrawError:
    """The outcome for a second copy of the same image in one call: the first copy's, said to be reused."""
    if isinstance(outcome, HDRedrawError):
        return outcome
    note = Text(f"Same image and settings as #{index + 1}: its result is reused (no extra charge).",
                f"与第 {index + 1} 张图片和参数相同:复用其结果(未重复扣费)。")
    return dataclasses.replace(outcome, notes=[*outcome.notes, note])


def _each(items: list[Any], workers: int, on_progress: Callable[[int, Progress], None] | None,
          job: Callable[[Any, ProgressFn | None], TaskResult]) -> list[TaskResult | HDRedrawError]:
    """Run `job` on every item, `workers` at a time; results (or errors) come back in input order."""
    def one(i: int) -> TaskResult | HDRedrawError:
        cb = (lambda p: on_progress(i, p)) if on_progress else None
        try:
            return job(items[i], cb)
        except HDRedrawError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hdredraw-job") as pool:
        return list(pool.map(one, range(len(items))))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
