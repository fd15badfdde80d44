"""The three network steps of one task, the same for every service: submit, poll until done, collect.

Each service's adapter (`services`) says how to build its calls and read its answers; these functions do
the rest once: recording the task id, progress reports, the poll rhythm, downloading and checking every
result file.  The job runner (`jobs`) strings them together with the journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import codecs, errors, specs, svg
from .errors import SubmitUncertain, TaskFailed
from .operation import Operation
from .progress import STAGE_FRACTION, Reporter, Submission, TaskResult, note_balance
from .redact import get_logger
from .request import TaskRequest
from .services import Service, Status
from .services.base import DONE, QUEUED, UNKNOWN, Call
from .text import language
from .transport import Context, Transport

log = get_logger("hdredraw.steps")

FIRST_POLL_DELAY = 0.5  # the earliest first poll; `poll_plan` picks the phase after it
UNKNOWN_LIMIT = 3  # status answers in a row without any status: the service has lost the task

# How each result kind is checked once downloaded (a body that fails is fetched again, then reported).
CHECKS: dict[str, Callable[[bytes], None]] = {
    "images": codecs.check_image, "grid": codecs.check_image, "image_1x": codecs.check_image,
    "vector": codecs.check_vector("eps"), "svgs": codecs.check_vector("svg"),
}


def submit(transport: Transport, service: Service, request: TaskRequest, secret: str, ctx: Context,
           report: Reporter, on_late: Callable[[dict[str, Any]], None] | None = None) -> Submission:
    """Create the task.  Never repeated once it may have reached the service."""
    upload = request.upload
    note = upload.note if isinstance(upload, codecs.Encoded) else None
    report.update(stage="submitting", fraction=STAGE_FRACTION["submitting"],
                  note=note.get(language()) if note else "")
    call = service.submit_call(request, secret)
    answer = transport.submit(call.path, ctx, method=call.method, data=call.data, files=call.files,
                              json_body=call.json, headers=call.headers, on_late_answer=on_late, busy_raises=True)
    made = service.read_submit(answer)
    note_balance(answer)
    sub = Submission(request.op.id, service.id, service_task_id(made.task_id), made.remaining_count,
                     made.remaining_money, note)
    ctx.task_id = sub.task_id
    log.info("%s submitted: task %s", request.op.id, sub.task_id)
    report.update(stage="queued", fraction=STAGE_FRACTION["queued"], task_id=sub.task_id,
                  remaining_count=sub.remaining_count, remaining_money=sub.remaining_money)
    return sub


def wait(transport: Transport, service: Service, op: Operation, task_id: str, secret: str, ctx: Context,
         report: Reporter, first_delay: float | None = None) -> Status:
    """Poll until the task finishes; returns its final status."""
    ctx.task_id = task_id
    began = time.monotonic()
    ctx.sleep(FIRST_POLL_DELAY if first_delay is None else first_delay)
    call = service.status_call(op, task_id, secret)
    unknown, running_at = 0, 0.0
    while True:
        asked = time.monotonic()
        status = service.read_status(_query(transport, call, ctx), task_id)
        if status.state == DONE:
            note_balance(status.answer)
            return replace(status, window=(running_at, time.monotonic() - began))
        running_at = asked - began
        unknown = unknown + 1 if status.state == UNKNOWN else 0
        if unknown >= UNKNOWN_LIMIT:
            how_en, how_zh = errors.fetch_how(task_id)
            raise TaskFailed(
                f"{service.name} keeps reporting no status for this task. Try {how_en} later; if it never "
                "finishes, contact the service with the task id.",
                f"{service.name} 持续未返回该任务的状态。请稍后用{how_zh}重试;如一直无结果,请带上任务ID联系服务商。",
                task_id=task_id)
        stage = QUEUED if status.state in (QUEUED, UNKNOWN) else "processing"
        if status.fraction is not None:
            report.update(stage=stage, fraction=status.fraction, exact=True, status=status.word)
        else:
            report.update(stage=stage, fraction=STAGE_FRACTION[stage], status=status.word)
        # From the moment we asked, or (when the answer was slow) from the moment it came back: the service's
        # cache runs from when it answered, and asking inside it only returns the same answer again.
        answered = time.monotonic()
        ctx.sleep(max(0.0, max(asked + service.poll_interval, answered + service.poll_interval - 0.1) - answered))


def collect(transport: Transport, service: Service, op: Operation, status: Status, ctx: Context,
            report: Reporter, max_bytes: int) -> TaskResult:
    """Download every file the finished task offers, each checked (SVG made safe) before it is kept."""
    report.update(stage="downloading", fraction=STAGE_FRACTION["downloading"], exact=False)
    task_id = ctx.task_id or ""
    files, extras = service.result_files(status, task_id)
    result = TaskResult(task_id, op.id, service.id, prompt=extras.get("prompt", ""),
                        urls=_urls(files), remaining_count=extras.get("remaining_count"),
                        remaining_money=extras.get("remaining_money"))
    for f in files:
        data = f.inline if f.inline is not None else transport.download(f.url, ctx, max_bytes=max_bytes,
                                                                        validate=CHECKS[f.kind])
        if f.kind == "svgs":
            data = safe_svg(data, task_id)
        if isinstance(getattr(result, f.kind), list):
            getattr(result, f.kind).append(data)
        else:
            setattr(result, f.kind, data)
    report.update(stage="done", fraction=1.0, remaining_count=result.remaining_count,
                  remaining_money=result.remaining_money)
    return result


def service_task_id(value: Any) -> str:
    """The id of a task the service just created; one that is unusable still means a task may exist."""
    try:
        return specs.check_task_id(value, from_service=True)
    except errors.ValidationError as exc:
        raise SubmitUncertain(
            exc.en + " The task may have been created and charged; it was NOT submitted again. Check your task "
            "list with the service.", exc.zh + "任务可能已创建并扣费,未重新提交。请向服务商核对任务列表。") from None


def _query(transport: Transport, call: Call, ctx: Context) -> dict[str, Any]:
    return transport.query(call.method, call.path, ctx, data=call.data, params=call.params, headers=call.headers)


def _urls(files: list[Any]) -> dict[str, Any]:
    urls: dict[str, Any] = {}
    for f in files:
        if f.url:
            urls.setdefault(f.kind, []).append(f.url)
    return urls


def safe_svg(data: bytes, task_id: str) -> bytes:
    """SVG from a service is untrusted: it is stored, output and saved only without scripts or links."""
    try:
        return svg.sanitize_document(data)
    except errors.HDRedrawError as exc:
        raise errors.ResultError(exc.en, exc.zh, task_id=task_id) from None
