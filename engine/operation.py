"""What an operation is made of: its fields (kinds, ranges, defaults, bilingual labels), how a value is
checked and put on the wire, and the checks every request shares (task ids, URLs, variations).

The operations themselves are the table in `specs`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ValidationError
from .text import Text, language

HDREDRAW = "hdredraw"
HIDREAM = "hidream"
SERVICE_NAMES = {HDREDRAW: "HD Redraw", HIDREAM: "HiDream"}  # as shown to users

# Field kinds.
FLOAT, INT, BOOL, STRING, CHOICE, IMAGE = "float", "int", "bool", "string", "choice", "image"

# Task ids are UUID-like in both services' documentation; anything else (a path, a URL, markup) is refused
# before it reaches a request, a file name or the journal.
TASK_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
MAX_VARIATION = 2**31 - 1
MAX_TEXT = 20_000  # characters in one text field; far above any prompt the services accept


def check_task_id(value: Any, *, from_service: bool = False) -> str:
    """A task id safe to send, store and use in a file name; ValidationError otherwise."""
    text = str(value).strip() if value is not None else ""
    if TASK_ID_RE.fullmatch(text):
        return text
    shown = text[:40] + ("…" if len(text) > 40 else "")
    if from_service:
        raise ValidationError(
            f"The service answered with a task id the pack will not use ({shown!r}).",
            f"服务返回的任务ID格式异常,插件拒绝使用({shown!r})。", field="task_id")
    raise ValidationError(
        f"{shown!r} is not a task id (letters, digits, '-' and '_' only, as the service returns them).",
        f"{shown!r} 不是有效的任务ID(只能包含字母、数字、“-”和“_”,与服务返回的一致)。", field="task_id")


def check_http_url(value: str, name: str) -> str:
    """An http(s) address with a host (what a callback URL must be); ValidationError otherwise, before sending."""
    text = value.strip()
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not host or any(
            c.isspace() or ord(c) < 32 for c in text):
        shown = text[:60] + ("…" if len(text) > 60 else "")
        raise ValidationError(
            f"'{name}' must be an http:// or https:// address with a host (got {shown!r}). Nothing was sent.",
            f"'{name}' 必须是带主机名的 http:// 或 https:// 地址(当前 {shown!r})。未发送请求。", field=name)
    return text


def check_variation(value: Any) -> int:
    """The `variation` number: a whole number from 0 to 2**31-1 (it is part of the journal's key)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(f"'variation' must be a whole number (got {value!r}).",
                              f"'variation' 必须是整数(当前 {value!r})。", field="variation")
    try:
        number = float(value)
        whole = int(number) if math.isfinite(number) and number.is_integer() else None
    except (TypeError, ValueError, OverflowError):
        whole = None
    if isinstance(value, int):
        whole = value
    if whole is None or not 0 <= whole <= MAX_VARIATION:
        raise ValidationError(
            f"'variation' must be a whole number from 0 to {MAX_VARIATION} (got {str(value)[:40]}).",
            f"'variation' 必须是 0 到 {MAX_VARIATION} 之间的整数(当前 {str(value)[:40]})。", field="variation")
    return whole


@dataclass(frozen=True)
class Choice:
    value: Any
    label: Text


@dataclass(frozen=True)
class Field:
    """One request field as the API documents it."""

    name: str
    kind: str
    label: Text
    tooltip: Text
    required: bool = True
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Choice, ...] = ()
    multiline: bool = False
    # Sent only when it has a value (HiDream's notify_url): empty means "leave out".
    omit_empty: bool = False

    @property
    def is_file(self) -> bool:
        return self.kind == IMAGE

    def help(self, lang: str | None = None) -> str:
        """The tooltip with the range and default added (they are stated once, in the field, and rendered
        into every tooltip, CLI help and help page from here)."""
        text = self.tooltip.get(lang)
        zh = (lang or language()).startswith("zh")
        if self.min is not None and self.max is not None:
            lo, hi = _fmt(self.min), _fmt(self.max)
            if zh:
                text += f"范围 {lo}–{hi}" + (f",默认 {_fmt(self.default)}。" if self.default is not None else "。")
            else:
                text += f" Range {lo}–{hi}" + (f", default {_fmt(self.default)}." if self.default is not None else ".")
        return text

    def choice_values(self) -> list[Any]:
        return [c.value for c in self.choices]

    def choice_for_label(self, label: str) -> Choice | None:
        for c in self.choices:
            if label in (c.label.en, c.label.zh, str(c.value)):
                return c
        return None

    def coerce(self, value: Any) -> Any:
        """Turn a value from a widget, CLI or JSON into the field's Python type, checking range.

        Raises ValidationError with a bilingual message; nothing has been sent yet.
        """
        if value is None or (isinstance(value, str) and value == "" and self.kind not in (STRING,)):
            if self.required and self.default in (None, ""):
                raise ValidationError(
                    f"'{self.name}' is required.", f"缺少必填参数 '{self.name}'。", field=self.name)
            return self.default
        if self.kind == FLOAT:
            v = _to_number(self, value, float)
            return self._check_range(v)
        if self.kind == INT:
            v = _to_number(self, value, float)
            if not float(v).is_integer():
                raise ValidationError(
                    f"'{self.name}' must be a whole number (got {value!r}).",
                    f"'{self.name}' 必须是整数(当前 {value!r})。", field=self.name)
            return self._check_range(int(v))
        if self.kind == BOOL:
            if isinstance(value, bool):
                return value
            s = str(value).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValidationError(
                f"'{self.name}' must be true or false (got {value!r}).",
                f"'{self.name}' 必须是 true 或 false(当前 {value!r})。", field=self.name)
        if self.kind == CHOICE:
            for c in self.choices:
                if value == c.value or str(value) == str(c.value) or value in (c.label.en, c.label.zh):
                    return c.value
            allowed = ", ".join(str(c.value) for c in self.choices)
            raise ValidationError(
                f"'{self.name}' must be one of {allowed} (got {value!r}).",
                f"'{self.name}' 只能是 {allowed} 之一(当前 {value!r})。", field=self.name)
        if self.kind == STRING:
            s = "" if value is None else str(value)
            if self.required and not s.strip() and self.default in (None, ""):
                raise ValidationError(
                    f"'{self.name}' must not be empty.", f"'{self.name}' 不能为空。", field=self.name)
            if "\x00" in s:
                raise ValidationError(
                    f"'{self.name}' contains a NUL character.", f"'{self.name}' 含有非法的空字符。",
                    field=self.name)
            if len(s) > MAX_TEXT:
                raise ValidationError(
                    f"'{self.name}' is too long ({len(s)} characters; at most {MAX_TEXT}).",
                    f"'{self.name}' 过长({len(s)} 个字符,最多 {MAX_TEXT})。", field=self.name)
            try:
                s.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValidationError(
                    f"'{self.name}' contains a character that cannot be sent (position {exc.start}, an unpaired "
                    "surrogate from a broken copy-paste). Retype that part.",
                    f"'{self.name}' 含有无法发送的字符(位置 {exc.start},通常来自损坏的复制粘贴)。请重新输入该部分。",
                    field=self.name) from None
            if self.name == "task_id" and s.strip():
                return check_task_id(s)
            if self.name == "notify_url" and s.strip():
                return check_http_url(s, self.name)
            return s
        return value

    def _check_range(self, v: float) -> float:
        lo, hi = self.min, self.max
        if (lo is not None and v < lo - 1e-9) or (hi is not None and v > hi + 1e-9):
            raise _range_error(self, v)
        return v

    def to_wire(self, value: Any) -> str:
        """The form/JSON text the service expects (booleans as true/false, as httpx sends them)."""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            text = f"{value:.6f}".rstrip("0").rstrip(".")
            return text if text not in ("", "-0") else "0"
        return str(value)


def _to_number(f: Field, value: Any, cast: type) -> float:
    if isinstance(value, bool):
        raise ValidationError(
            f"'{f.name}' must be a number (got {value!r}).", f"'{f.name}' 必须是数字(当前 {value!r})。",
            field=f.name)
    try:
        v = cast(value)
    except (TypeError, ValueError):
        raise ValidationError(
            f"'{f.name}' must be a number (got {value!r}).", f"'{f.name}' 必须是数字(当前 {value!r})。",
            field=f.name) from None
    if not math.isfinite(v):
        raise ValidationError(
            f"'{f.name}' must be a finite number (got {value!r}).",
            f"'{f.name}' 必须是有限的数字(当前 {value!r})。", field=f.name)
    return v


def _range_error(f: Field, v: float) -> ValidationError:
    lo, hi = _fmt(f.min), _fmt(f.max)
    return ValidationError(
        f"'{f.name}' must be between {lo} and {hi} (got {_fmt(v)}). Nothing was sent or charged.",
        f"'{f.name}' 必须在 {lo} 到 {hi} 之间(当前 {_fmt(v)})。未发送请求,未扣费。",
        field=f.name)


def _fmt(v: float | None) -> str:
    if v is None:
        return "?"
    return f"{v:g}"


class ValidParams(dict):
    """Parameters one operation has checked (a plain dict to read; `Operation.validate` trusts it)."""

    def __init__(self, op_id: str, values: Mapping[str, Any]):
        super().__init__(values)
        self.op_id = op_id


@dataclass(frozen=True)
class Operation:
    """One API operation: where it lives, what it takes, what it gives back."""

    id: str
    service: str
    endpoint: str
    node_id: str
    title: Text
    description: Text
    fields: tuple[Field, ...]
    method: str = "POST"
    category: str = ""
    # Paid operations create a task (and charge); status queries do not.
    paid: bool = True
    # The operation (id) that reports this operation's tasks; HD Redraw's all share one.
    status_op: str = "check_task_status"
    # What its node returns, in order (names of the node layer's output kinds; the contract's first).
    outputs: tuple[str, ...] = ("image", "mask", "task_ids")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def params(self) -> tuple[Field, ...]:
        """The fields a user sets (everything but the uploaded image)."""
        return tuple(f for f in self.fields if not f.is_file)

    @property
    def image_field(self) -> Field | None:
        return next((f for f in self.fields if f.is_file), None)

    def validate(self, values: Mapping[str, Any]) -> ValidParams:
        """Check and normalise every parameter; unknown names are rejected.

        Returns the complete values (defaults filled in) as `ValidParams`; passing those back returns them
        unchanged, so however many layers a request crosses, its parameters are checked exactly once.
        """
        if isinstance(values, ValidParams) and values.op_id == self.id:
            return values
        known = {f.name for f in self.params}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValidationError(
                f"{self.id} has no parameter {', '.join(unknown)}; it takes {', '.join(sorted(known)) or 'none'}.",
                f"{self.id} 没有参数 {', '.join(unknown)};可用参数:{', '.join(sorted(known)) or '无'}。",
                field=unknown[0])
        return ValidParams(self.id, {f.name: f.coerce(values.get(f.name)) for f in self.params})

    def wire_fields(self, values: Mapping[str, Any]) -> dict[str, str]:
        """The validated parameters as the text the service receives."""
        out = {}
        for f in self.params:
            v = values[f.name]
            if f.omit_empty and (v is None or v == ""):
                continue
            out[f.name] = f.to_wire(v)
        return out
