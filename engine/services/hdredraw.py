"""HD Redraw: multipart form with `user_key`, one status endpoint for every operation (cached 3 s)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors, specs
from ..codecs import Encoded
from ..errors import ResultError, TaskFailed
from ..operation import HDREDRAW, Operation
from ..request import TaskRequest
from .base import DONE, PROCESSING, QUEUED, UNKNOWN, Call, ResultFile, Status, Submitted

QUEUED_WORDS = ("pending", "queued", "queue", "waiting", "submitted", "")
FAILED_WORDS = ("failed", "failure", "error", "cancelled", "canceled")


class HDRedrawService:
    id = HDREDRAW
    name = specs.SERVICE_NAMES[HDREDRAW]
    # The service caches status answers for 3 s; asking faster only returns the cached answer. Polling just
    # after the cache expires sees a finished task at most ~3 s after it finishes.
    poll_interval = 3.1

    def credentials(self, settings: Any) -> tuple[str, str]:
        return settings.require_hdredraw()

    def submit_call(self, request: TaskRequest, secret: str) -> Call:
        upload = request.upload
        if not isinstance(upload, Encoded):
            raise errors.ValidationError("HD Redraw needs the image itself, not a URL.",
                                         "HD Redraw 需要图片本身,不支持图片 URL。")
        op = request.op
        files = {op.image_field.name: (upload.filename, upload.data, upload.mime)} if op.image_field else None
        return Call(op.method, op.endpoint, data={"user_key": secret, **request.wire}, files=files)

    def read_submit(self, answer: Mapping[str, Any]) -> Submitted:
        if answer.get("err_code") != 0 or not answer.get("task_id"):
            raise errors.from_hdredraw(str(answer.get("err_msg") or ""), submitting=True)
        return Submitted(str(answer["task_id"]), answer.get("remaining_count"), answer.get("remaining_money"))

    def status_call(self, op: Operation, task_id: str, secret: str) -> Call:
        status_op = specs.get(op.status_op)
        return Call(status_op.method, status_op.endpoint, data={"user_key": secret, "task_id": task_id})

    def read_status(self, answer: Mapping[str, Any], task_id: str) -> Status:
        if answer.get("err_code") != 0:
            raise errors.from_hdredraw(str(answer.get("err_msg") or ""), task_id=task_id, submitting=False)
        status = answer.get("status")
        word = str(status or "").strip().lower()
        if word == "completed":
            return Status(DONE, str(status), answer=answer)
        if word in FAILED_WORDS:
            raise TaskFailed(
                f"The service reported that the task failed (status {status}). Try a different image or "
                "settings; if you were charged, contact the service with the task id.",
                f"服务报告任务失败(状态 {status})。请尝试其他图片或参数;如已扣费,请带上任务ID联系服务商。",
                task_id=task_id, upstream=str(status))
        if status is None:
            return Status(UNKNOWN, answer=answer)
        return Status(QUEUED if word in QUEUED_WORDS else PROCESSING, str(status or ""), answer=answer)

    def result_files(self, status: Status, task_id: str) -> tuple[list[ResultFile], dict[str, Any]]:
        answer = status.answer
        urls = answer.get("images_urls")
        images = [u for u in urls if u] if isinstance(urls, list) and urls else (
            [answer["images_url"]] if answer.get("images_url") else [])
        files = [ResultFile("images", str(u)) for u in images]
        for kind, key in (("grid", "grid_url"), ("image_1x", "images_url_1m"), ("vector", "vector_url")):
            if answer.get(key):
                files.append(ResultFile(kind, str(answer[key])))
        if not images and not answer.get("vector_url"):
            how_en, how_zh = errors.fetch_how(task_id)
            raise ResultError(
                f"The task finished but the service gave no result address. Try {how_en} again shortly.",
                f"任务已完成,但服务未返回结果地址。请稍后用{how_zh}重试。", task_id=task_id)
        extras = {"prompt": str(answer.get("generated_prompt") or ""),
                  "remaining_count": answer.get("remaining_count"),
                  "remaining_money": answer.get("remaining_money")}
        return files, extras
