"""HiDream img2svg: JSON body with base64 or URL, Bearer token, async task with progress and SVG results."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import errors, specs
from ..codecs import Encoded, to_base64
from ..errors import ResultError, TaskFailed
from ..operation import HIDREAM, Operation
from ..request import TaskRequest
from .base import DONE, PROCESSING, QUEUED, Call, ResultFile, Status, Submitted


class HiDreamService:
    id = HIDREAM
    name = specs.SERVICE_NAMES[HIDREAM]
    poll_interval = 2.0

    def credentials(self, settings: Any) -> tuple[str, str]:
        return settings.require_hidream()

    def submit_call(self, request: TaskRequest, secret: str) -> Call:
        upload = request.upload
        image = to_base64(upload.data) if isinstance(upload, Encoded) else upload
        op = request.op
        return Call(op.method, op.endpoint, json={"image": image, **request.wire}, headers=_bearer(secret))

    def read_submit(self, answer: Mapping[str, Any]) -> Submitted:
        result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
        if answer.get("code") != 0 or not result.get("task_id"):
            raise errors.from_hidream(answer.get("code"), str(answer.get("message") or ""))
        return Submitted(str(result["task_id"]))

    def status_call(self, op: Operation, task_id: str, secret: str) -> Call:
        status_op = specs.get(op.status_op)
        return Call(status_op.method, status_op.endpoint, params={"task_id": task_id}, headers=_bearer(secret))

    def read_status(self, answer: Mapping[str, Any], task_id: str) -> Status:
        if answer.get("code") != 0:
            message = str(answer.get("message") or "")
            if "not found" in message.lower() or "不存在" in message:
                raise errors.TaskNotFound(
                    "HiDream does not know this task (wrong id, another account, or expired).",
                    "HiDream 未找到该任务(任务ID错误、属于其他账户或已过期)。", task_id=task_id,
                    upstream=f"code {answer.get('code')}: {message}")
            raise errors.from_hidream(answer.get("code"), message, task_id=task_id)
        subs = _sub_results(answer)
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
            return Status(DONE, answer=answer)
        fractions = [float(s.get("task_completion") or 0.0) for s in subs]
        fraction = min(0.99, max(0.0, sum(fractions) / len(fractions))) if fractions else 0.0
        state = QUEUED if not codes or all(c == 0 for c in codes) else PROCESSING
        return Status(state, f"{fraction * 100:.0f}%", fraction, answer)

    def result_files(self, status: Status, task_id: str) -> tuple[list[ResultFile], dict[str, Any]]:
        files = []
        for sub in _sub_results(status.answer):
            image = str(sub.get("image") or "")
            if image.lstrip().startswith("<"):
                files.append(ResultFile("svgs", inline=image.encode("utf-8")))  # markup instead of a URL
            elif image:
                files.append(ResultFile("svgs", image))
        if not files:
            raise ResultError("HiDream finished the task but returned no SVG.", "HiDream 任务已完成,但未返回 SVG。",
                              task_id=task_id)
        return files, {}


def _sub_results(answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    return [s for s in result.get("sub_task_results") or [] if isinstance(s, dict)]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
