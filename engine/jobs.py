"""Submit, poll, download: one paid task from start to finished result.

`Client.run` is the whole journey; `submit`, `wait` and `collect` are its three steps, kept separate so a
journal can record the task id between submit and wait (a result is never lost), and so `fetch` can
collect a task that was submitted earlier (after a timeout, a closed browser, a restart) at no cost.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from . import codecs, config, errors, journal_paths, scheduler, services, specs, steps
from .errors import HDRedrawError, SubmitUncertain, TaskFailed
from .journal import DONE, FAILED, PENDING, SUBMITTING, UNCERTAIN, Entry, JournalBase
from .progress import (
    STAGE_FRACTION,
    Progress,
    ProgressFn,
    Reporter,
    Submission,
    TaskResult,
)
from .redact import get_logger, register_secret
from .request import TaskRequest, account_id
from .scheduler import AdaptiveLimiter
from .services import Status
from .specs import HDREDRAW, HIDREAM, Operation, Text
from .spend import Reservation, SpendGuard
from .text import language
from .transport import Context, Transport

log = get_logger("hdredraw.jobs")


Image = bytes | np.ndarray | codecs.Encoded | str
# Threads one batch may use to wait on its tasks; how many run on the service at once is the limiter's job.
MAX_WORKERS = 64


class Client:
    """Talks to both services with the resolved settings.  Thread-safe; share one per process.

    With a `journal`, every paid task is recorded before it is polled, finished results are kept, the same
    request is never submitted twice (a re-run reuses or resumes), and a spend guard caps new tasks per run.
    """

    def __init__(self, settings: config.Settings | None = None, journal: JournalBase | None = None):
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
                adapter = services.get(service)
                base = adapter.credentials(s)[0]
                self._transports[service] = Transport(
                    base, name=adapter.name, connect_timeout=s.connect_timeout, read_timeout=s.read_timeout,
                    pool_size=MAX_WORKERS)
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

    def request(self, op: str | Operation, image: Image, params: Mapping[str, Any] | None = None,
                variation: int = 0) -> TaskRequest:
        """Validate, encode and freeze one request (the only place its parameters are checked)."""
        op = specs.get(op) if isinstance(op, str) else op
        return self._request(op, op.validate(params or {}), self.prepare(op, image), specs.check_variation(variation))

    def _request(self, op: Operation, values: Mapping[str, Any], upload: codecs.Encoded | str,
                 variation: int, wire: Mapping[str, str] | None = None) -> TaskRequest:
        base, secret = services.get(op.service).credentials(self.settings)
        return TaskRequest.of(op, values, upload, variation, account_id(base, secret), wire)

    def fingerprint(self, op: Operation, upload: codecs.Encoded | str, values: Mapping[str, Any],
                    variation: int = 0) -> str:
        return self._request(op, values, upload, variation).fingerprint

    def account(self, service: str) -> str:
        """The journal's name for the configured account of a service (a hash: it reveals no key)."""
        base, secret = services.get(service).credentials(self.settings)
        return account_id(base, secret)

    # ------------------------------------------------------------------ the whole journey

    def run(self, op: str | Operation, image: Image, params: Mapping[str, Any] | None = None, *,
            cancel: Callable[[], bool] | None = None, on_progress: ProgressFn | None = None,
            timeout: float | None = None, variation: int = 0, guard: SpendGuard | None = None) -> TaskResult:
        """Validate, upload, wait and download one task (or reuse/resume the journal's record of it).

        `guard` is the spend guard of the scope this call belongs to (a queued prompt, a CLI command); by
        default the call is a scope of its own.
        """
        request = self.request(op, image, params, variation)
        guard = guard or SpendGuard(self.settings.max_new_tasks)
        return self._run(request, cancel, on_progress, timeout, guard.reserve(0))

    def _run(self, request: TaskRequest, cancel: Callable[[], bool] | None, on_progress: ProgressFn | None,
             timeout: float | None, reservation: Reservation) -> TaskResult:
        ctx = self.context(cancel, timeout)
        report = Reporter(on_progress)
        ctx.on_tick = report.tick
        if self.journal is None:
            return self._run_new(request, ctx, report, reservation)
        with journal_paths.lease(self.journal, request.fingerprint, ctx, report):
            entry = self.journal.latest(request.fingerprint)
            if entry is not None and entry.status != FAILED:
                return self._from_entry(request.op, entry, ctx, report)
            return self._run_new(request, ctx, report, reservation)

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
        workers = max(1, min(concurrency or MAX_WORKERS, len(items) or 1))
        with ThreadPoolExecutor(max_workers=min(workers, os.cpu_count() or 2),
                                thread_name_prefix="hdredraw-encode") as pool:
            uploads = list(pool.map(lambda image: self.prepare(op, image), items))  # zlib runs without the GIL
        wire = op.wire_fields(values)  # the same form fields for every image of the batch
        requests = [self._request(op, values, u, variation, wire) for u in uploads]
        keys = [r.fingerprint for r in requests]
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
            outcomes = _each([requests[i] for i in unique], workers, report, lambda request, cb: self._run(
                request, cancel, cb, timeout, reservation))
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
        task_id = specs.check_task_id(task_id)
        op = specs.get(op_id) if op_id else specs.get("check_task_status" if service == HDREDRAW
                                                      else "hidream_vectorize")
        ctx = self.context(cancel, timeout)
        ctx.task_id = task_id
        report = Reporter(on_progress)
        ctx.on_tick = report.tick
        entry = self.journal.by_task_id(task_id) if self.journal is not None else None
        if entry is not None and entry.status == DONE:
            kept = journal_paths.kept(self.journal, entry, report)
            if kept is not None:
                return kept
        report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=task_id)
        status = self.wait(op, task_id, ctx, report, first_delay=0.0) if wait else Status("done")
        result = self.collect(op, status, ctx, report)
        if self.journal is not None:
            self.journal.finished(self.journal.adopt(service, op.id, task_id, self.account(service)), result)
        return result

    # ------------------------------------------------------------------ journal paths

    def _needs_submission(self, fp: str) -> bool:
        assert self.journal is not None
        entry = self.journal.latest(fp)
        return entry is None or entry.status == FAILED

    def _from_entry(self, op: Operation, entry: Entry, ctx: Context, report: Reporter) -> TaskResult:
        """Reuse a finished task, resume a pending one, or refuse to resend an uncertain one."""
        assert self.journal is not None
        lang = language()
        if entry.status == DONE:
            kept = journal_paths.kept(self.journal, entry, report)
            if kept is not None:
                return kept
            note = Text(f"Fetching task {entry.task_id} again (no kept copy on this machine): no new charge.",
                        f"重新获取任务 {entry.task_id} 的结果(本机没有保存的副本):未重复扣费。")
        elif entry.status == PENDING:
            note = Text(f"Resuming task {entry.task_id}, submitted earlier: no new charge.",
                        f"继续等待之前提交的任务 {entry.task_id}:未重复扣费。")
        else:  # submitting (its run died mid-request) or uncertain
            if entry.status == SUBMITTING:
                self.journal.set_status(entry.id, UNCERTAIN, "run ended during submit")
            raise errors.earlier_uncertain(entry.created_at, entry.task_id)
        assert entry.task_id
        report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=entry.task_id, note=note.get(lang))
        journal_paths.plan_eta(self.journal, op, report, entry.submitted_at)
        try:
            status = self.wait(op, entry.task_id, ctx, report, first_delay=0.0)
        except TaskFailed as exc:
            self.journal.set_status(entry.id, FAILED, exc.code)
            raise
        result = self.collect(op, status, ctx, report)
        result.notes.append(note)
        self.journal.finished(entry.id, result)
        return result

    def _run_new(self, request: TaskRequest, ctx: Context, report: Reporter, reservation: Reservation) -> TaskResult:
        """Submit a new task and see it through, recording each step in the journal.

        The journal row is written before anything is sent (so a journal that cannot be written stops the
        run before it costs anything), and its status says what is known: failed only when nothing can have
        been created, uncertain when the submit may have reached the service.  The task holds a slot of
        its service's limiter from submit until the service has finished it; a "busy" refusal gives the
        slot back and waits for another (nothing was created, so submitting again is safe).
        """
        journal, op = self.journal, request.op
        reservation.take()  # the spend guard, before anything is recorded or sent
        entry_id = None
        if journal is not None:
            try:
                entry_id = journal.start(request.fingerprint, op.service, op.id,
                                         {**request.wire, journal_paths.SIZE_KEY: request.size_class},
                                         request.upload_sha256 if isinstance(request.upload, codecs.Encoded)
                                         else None, request.variation,
                                         request.account)
            except HDRedrawError:
                reservation.refund()
                raise
        limiter = self.limiter(op.service)
        history = journal_paths.plan_eta(journal, op, report, size=request.size_class)
        while True:
            try:
                limiter.acquire(ctx, lambda active, limit: report.update(stage="queued", note=Text(
                    f"Waiting for a free slot ({active} tasks running on this service)",
                    f"等待空闲名额(该服务上有 {active} 个任务在运行)").get(language())))
            except HDRedrawError as exc:  # cancelled or timed out before sending: nothing was created
                journal_paths.mark(journal, entry_id, FAILED, exc.code)
                reservation.refund()
                raise
            ok = False
            try:
                try:
                    sub = self.submit(request, ctx, report,
                                      on_late_answer=journal_paths.late_recorder(journal, entry_id) if journal else None)
                except errors.ServiceBusy as busy:
                    limiter.busy(busy.retry_after)
                    continue
                except SubmitUncertain as exc:
                    journal_paths.mark(journal, entry_id, UNCERTAIN, exc.code, only_if=SUBMITTING)
                    raise
                except HDRedrawError as exc:  # nothing left the machine, or the service refused it
                    journal_paths.mark(journal, entry_id, FAILED, exc.code)
                    reservation.refund()
                    raise
                except BaseException:  # an interrupt from outside: it may have been on the wire
                    journal_paths.mark(journal, entry_id, UNCERTAIN, "interrupted", only_if=SUBMITTING)
                    raise
                if journal is not None:
                    try:
                        journal.submitted(entry_id, sub.task_id, sub.remaining_count, sub.remaining_money)
                    except HDRedrawError as exc:
                        raise errors.unrecorded_task(sub.task_id, exc) from None
                try:
                    status = self.wait(op, sub.task_id, ctx, report,
                                       first_delay=journal_paths.first_poll(history, op))
                except TaskFailed as exc:
                    journal_paths.mark(journal, entry_id, FAILED, exc.code)
                    raise
                ok = True
                break
            finally:
                limiter.release(ok)
        result = self.collect(op, status, ctx, report)
        result.window = status.window  # measured from this submit's answer: it teaches `poll_plan`
        if sub.upload_note:
            result.notes.insert(0, sub.upload_note)
        if journal is not None:
            journal_paths.keep(journal, entry_id, result)
        return result

    def limiter(self, service: str) -> AdaptiveLimiter:
        """The process-wide limiter of a service, at this client's concurrency setting."""
        return scheduler.limiter(service, self.settings.concurrency)

    # ------------------------------------------------------------------ the steps

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

    def submit(self, request: TaskRequest, ctx: Context, report: Reporter | None = None,
               on_late_answer: Callable[[dict[str, Any]], None] | None = None) -> Submission:
        """Create the task.  Never repeated once it may have reached the service."""
        service = services.get(request.op.service)
        return steps.submit(self.transport(service.id), service, request, self._secret(service), ctx,
                            report or Reporter(None), on_late_answer)

    def wait(self, op: Operation, task_id: str, ctx: Context, report: Reporter | None = None,
             first_delay: float | None = None) -> Status:
        """Poll until the task finishes; returns its final status."""
        service = services.get(op.service)
        return steps.wait(self.transport(service.id), service, op, task_id, self._secret(service), ctx,
                          report or Reporter(None), first_delay)

    def collect(self, op: Operation, status: Status, ctx: Context, report: Reporter | None = None) -> TaskResult:
        """Download every result the finished task offers."""
        service = services.get(op.service)
        return steps.collect(self.transport(service.id), service, op, status, ctx, report or Reporter(None),
                             self.settings.max_result_mb * 1048576)

    def _secret(self, service: services.Service) -> str:
        return service.credentials(self.settings)[1]


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
