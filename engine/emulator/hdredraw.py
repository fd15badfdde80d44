"""The HD Redraw routes: submit (every paid operation), check_task_status, downloads.

Validation follows the service's order and wording (账户不存在, 文件大小不能超过16MB,
扩展参数错误, 任务提交失败:..., 账户剩余次数不足) so clients can be tested against the
exact texts they will meet.  Ranges, defaults and choices come from `specs`.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ..operation import BOOL, CHOICE, FLOAT, INT, STRING, Field, Operation
from . import imaging
from .state import MAX_UPLOAD, EmulatorState
from .wire import Form, Reply, json_reply

NO_ACCOUNT = "账户不存在"
NO_BALANCE = "账户剩余次数不足"
TOO_LARGE = "文件大小不能超过16MB"
NOT_FOUND = "任务未找到或状态未知"
SUBMIT_FAILED = "任务提交失败:"
BAD_IMAGE = SUBMIT_FAILED + "无法识别的图像文件"


class Rejected(Exception):
    """A field the service would refuse; the argument is the complete err_msg."""


def error(msg: str) -> Reply:
    return json_reply({"err_code": 1, "err_msg": msg})


def _g(v: float | None) -> str:
    return "?" if v is None else f"{v:g}"


def _number(f: Field, raw: str) -> float:
    try:
        v = float(raw.strip())
    except ValueError:
        raise Rejected(f"{SUBMIT_FAILED}参数{f.name}必须是数字") from None
    if not math.isfinite(v):
        raise Rejected(f"{SUBMIT_FAILED}参数{f.name}必须是有限的数字")
    return v


def _in_range(f: Field, v: float) -> bool:
    return not ((f.min is not None and v < f.min - 1e-9) or (f.max is not None and v > f.max + 1e-9))


def check_field(f: Field, raw: str | None) -> Any:
    """Parse one form value the way the service does; raise Rejected with its err_msg."""
    if raw is None or (raw.strip() == "" and f.kind != STRING):
        if f.required and f.default in (None, ""):
            raise Rejected(f"{SUBMIT_FAILED}缺少参数{f.name}")
        return f.default
    if f.kind in (FLOAT, INT):
        v = _number(f, raw)
        if f.kind == INT:
            if not v.is_integer():
                raise Rejected(f"{SUBMIT_FAILED}参数{f.name}必须是整数")
            v = int(v)
        if not _in_range(f, v):
            raise Rejected(f"{SUBMIT_FAILED}参数{f.name}必须在{_g(f.min)}-{_g(f.max)}之间")
        return v
    if f.kind == BOOL:
        s = raw.strip().lower()
        if s in ("true", "1", "yes", "on"):
            return True
        if s in ("false", "0", "no", "off"):
            return False
        raise Rejected(f"{SUBMIT_FAILED}参数{f.name}必须是true或false")
    if f.kind == CHOICE:
        for value in f.choice_values():
            if raw.strip() == str(value):
                return value
        allowed = "、".join(str(v) for v in f.choice_values())
        raise Rejected(f"{SUBMIT_FAILED}参数{f.name}只能是{allowed}之一")
    if f.required and f.default in (None, "") and not raw.strip():
        raise Rejected(f"{SUBMIT_FAILED}参数{f.name}不能为空")
    return raw


def _check_expand(op: Operation, fields: dict[str, str]) -> None:
    """The expand ratios have their own message, checked before everything else but the file size."""
    for f in op.params:
        if f.name.startswith("expand_") and fields.get(f.name, "").strip():
            v = _number(f, fields[f.name])
            if not _in_range(f, v):
                raise Rejected(f"扩展参数错误:{f.name}必须在{f.min:.1f}-{f.max:.1f}之间")


def submit(emu: EmulatorState, op: Operation, form: Form) -> Reply:
    key = form.fields.get("user_key", "")
    if not emu._has_account(key):
        return error(NO_ACCOUNT)
    image_field = op.image_field
    upload = form.files.get(image_field.name) if image_field else None
    if upload is not None and len(upload.data) > MAX_UPLOAD:
        return error(TOO_LARGE)
    try:
        _check_expand(op, form.fields)
        params = {f.name: check_field(f, form.fields.get(f.name)) for f in op.params}
    except Rejected as exc:
        return error(str(exc))
    if upload is None:
        return error(BAD_IMAGE)
    try:
        image = imaging.decode(upload.data)
    except ValueError:
        return error(BAD_IMAGE)
    record = {"fields": {k: v for k, v in form.fields.items() if k != "user_key"},
              "file_sha256": hashlib.sha256(upload.data).hexdigest(), "file_size": len(upload.data),
              "content_type": upload.content_type, "filename": upload.filename,
              "image_size": list(image.size), "image_mode": image.mode}
    task, balance = emu._create_task(op, key, image, params, record)
    if task is None:
        return error(NO_BALANCE)
    return json_reply({"err_code": 0, "task_id": task.id, **balance})


def check_status(emu: EmulatorState, form: Form) -> Reply:
    key = form.fields.get("user_key", "")
    if not emu._has_account(key):
        return error(NO_ACCOUNT)
    body = emu._hd_status(key, form.fields.get("task_id", "").strip())
    return error(NOT_FOUND) if body is None else json_reply(body)
