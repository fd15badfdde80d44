"""One exception hierarchy for everything a user can hit.

Each error carries an English and a Chinese message that say what happened and
what to do next, the service's own text when there is one, and the task id when
a task exists, so a result is never orphaned.  `str(error)` gives both
languages, the user's first.
"""

from __future__ import annotations

from .redact import redact
from .text import Text, language


def preferred_language() -> str:
    """'zh' or 'en' (see `text.language`: HDREDRAW_LANG, then the host's setting, then the locale)."""
    return language()


class HDRedrawError(Exception):
    """Base of every error the pack raises on purpose."""

    code = "error"
    # True when the failure happened before anything could have been charged.
    free = False

    def __init__(self, en: str, zh: str, *, task_id: str | None = None, upstream: str | None = None,
                 field: str | None = None, service: str | None = None):
        self.en = redact(en)
        self.zh = redact(zh)
        self.task_id = task_id
        self.upstream = redact(upstream) if upstream else upstream
        self.field = field
        self.service = service
        super().__init__(self.message())

    @property
    def text(self) -> Text:
        return Text(self.en, self.zh)

    def message(self, lang: str | None = None) -> str:
        """The full message in one language (with upstream text and task id)."""
        lang = lang or preferred_language()
        zh = lang.startswith("zh")
        text = self.zh if zh else self.en
        if self.upstream:
            text += f" ({'服务返回' if zh else 'service said'}: {self.upstream})"
        if self.task_id:
            text += f" [{'任务ID' if zh else 'task id'}: {self.task_id}]"
        return text

    def __str__(self) -> str:
        first = preferred_language()
        second = "en" if first == "zh" else "zh"
        return f"{self.message(first)}\n{self.message(second)}"


class ConfigError(HDRedrawError):
    """Missing or unusable configuration (base URL, key, token)."""

    code = "config"
    free = True


class ValidationError(HDRedrawError):
    """A parameter or input was rejected locally, before any request."""

    code = "validation"
    free = True


class AuthError(HDRedrawError):
    """The service rejected the key or token."""

    code = "auth"
    free = True


class BalanceError(HDRedrawError):
    """The account has no tasks or money left."""

    code = "balance"
    free = True


class InputTooLargeError(HDRedrawError):
    """The upload exceeds the service's size limit."""

    code = "too_large"
    free = True


class ParameterError(HDRedrawError):
    """The service rejected a parameter."""

    code = "parameter"
    free = True


class SubmitRejected(HDRedrawError):
    """The service answered the submit with an error (任务提交失败)."""

    code = "submit_failed"


class SpendGuardError(HDRedrawError):
    """A run would start more new paid tasks than the configured cap."""

    code = "spend_guard"
    free = True


class ServiceBusy(HDRedrawError):
    """The service refused a submit because it is busy or rate-limited (HTTP 429): nothing was created."""

    code = "busy"
    free = True

    def __init__(self, en: str, zh: str, *, retry_after: float | None = None, **kw: object):
        super().__init__(en, zh, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class SubmitUncertain(HDRedrawError):
    """The submit may have reached the service but its answer was lost.

    Never retried automatically: retrying could create (and charge) a second task.
    """

    code = "submit_uncertain"


class CancelledUncertain(SubmitUncertain):
    """Cancel pressed while a submit was on the wire: the task may exist; a late answer is still recorded."""

    code = "cancelled_submit"


class JournalError(HDRedrawError):
    """The task journal cannot be read or written (corrupt, read-only, missing, disk full)."""

    code = "journal"


class TaskNotFound(HDRedrawError):
    code = "not_found"


class TaskFailed(HDRedrawError):
    code = "task_failed"


class ModerationRejected(TaskFailed):
    code = "moderation"


class NetworkError(HDRedrawError):
    """The service could not be reached or kept failing after retries."""

    code = "network"


class NotSent(NetworkError):
    """The request never left this machine (bad address, unsendable header or text, no connection)."""

    code = "not_sent"
    free = True


class ServiceError(HDRedrawError):
    """The service answered with something we cannot use (HTTP error, malformed body)."""

    code = "service"


class ResultError(HDRedrawError):
    """A result could not be downloaded or decoded (too large, not an image, bomb)."""

    code = "result"


class JobTimeout(HDRedrawError):
    code = "timeout"


class Cancelled(HDRedrawError):
    code = "cancelled"


# Who reads the advice: ComfyUI's nodes (the default) or the command line, whose users have no Fetch Task node.
_caller = "node"


def set_caller(caller: str) -> None:
    """'cli' makes the advice in messages name commands instead of nodes (the `hdredraw` command sets it)."""
    global _caller
    _caller = caller


def fetch_how(task_id: str | None) -> tuple[str, str]:
    """How this user fetches a task's result again: a command on the command line, the node in ComfyUI."""
    if _caller == "cli":
        return f"`hdredraw fetch {task_id or 'TASK_ID'}`", f"`hdredraw fetch {task_id or 'TASK_ID'}`"
    return "the Fetch Task node", "“获取任务结果”节点"


def _ctx(task_id: str | None) -> tuple[str, str]:
    if task_id and _caller == "cli":
        return (f" The task keeps running on the service; run the same command again, or `hdredraw fetch {task_id}`, "
                "to get its result at no extra cost.",
                f" 任务仍在服务端运行;再次运行相同命令或 `hdredraw fetch {task_id}` 即可免费取回结果。")
    if task_id:
        return (f" The task keeps running on the service; fetch its result later with Fetch Task "
                f"(task id {task_id}) at no extra cost.",
                f" 任务仍在服务端运行;稍后可用“获取任务结果”节点(任务ID {task_id})免费取回结果。")
    return "", ""


def timeout_error(task_id: str | None, seconds: float) -> JobTimeout:
    if task_id is None:
        return JobTimeout(
            f"Gave up after {seconds:.0f} s (the job deadline) before the task was submitted: nothing was sent "
            "and nothing was charged. Raise the deadline with HDREDRAW_TIMEOUT or in the pack's settings.",
            f"在提交任务前已到 {seconds:.0f} 秒时限:请求未发出,未扣费。可通过 HDREDRAW_TIMEOUT 或插件设置调大时限。")
    en, zh = _ctx(task_id)
    return JobTimeout(
        f"Gave up waiting after {seconds:.0f} s (the job deadline).{en} "
        f"Raise the deadline with HDREDRAW_TIMEOUT or in the pack's settings.",
        f"等待 {seconds:.0f} 秒后超时(任务总时限)。{zh}可通过 HDREDRAW_TIMEOUT 或插件设置调大时限。",
        task_id=task_id)


def cancelled_error(task_id: str | None) -> Cancelled:
    if task_id is None:
        return Cancelled("Cancelled before the task was submitted: nothing was sent and nothing was charged.",
                         "已在提交任务之前取消:请求未发出,未扣费。")
    en, zh = _ctx(task_id)
    return Cancelled("Cancelled." + en, "已取消。" + zh, task_id=task_id)


def cancelled_in_flight() -> CancelledUncertain:
    return CancelledUncertain(
        "Cancelled while the submit was on its way: the service may have created (and charged) the task. If its "
        "answer still arrives, the pack records the task id and the next run with the same inputs resumes it at "
        "no extra cost; otherwise check your balance and task list before submitting again.",
        "提交请求发出途中已取消:服务端可能已创建任务并扣费。若随后收到答复,插件会记录任务ID,相同输入再次运行时将免费继续;"
        "否则请先检查余额和任务列表再重新提交。")


def submit_uncertain(service_name: str, cause_en: str, cause_zh: str) -> SubmitUncertain:
    return SubmitUncertain(
        f"The request to {service_name} was sent but its answer was lost ({cause_en}). The task may have been "
        "created and charged, so it was NOT retried automatically. Check your balance and task list before "
        "running again.",
        f"请求已发送到 {service_name},但没有收到答复({cause_zh})。任务可能已创建并扣费,因此没有自动重试。"
        "再次运行前请先检查余额和任务列表。")


def from_hdredraw(err_msg: str, *, task_id: str | None = None, submitting: bool) -> HDRedrawError:
    """Map an HD Redraw `err_msg` to the right error with advice in both languages."""
    msg = (err_msg or "").strip()
    kw = {"task_id": task_id, "upstream": msg or None, "service": "hdredraw"}
    if "账户不存在" in msg:
        return AuthError(
            "The HD Redraw account does not exist: the user key is wrong. Check HDREDRAW_USER_KEY or the key "
            "in the pack's settings.",
            "HD Redraw 账户不存在:用户密钥无效。请检查 HDREDRAW_USER_KEY 或插件设置中的密钥。", **kw)
    if "剩余次数不足" in msg or "余额不足" in msg:
        return BalanceError(
            "The HD Redraw account has no tasks or money left. Top up with the service, then run again; "
            "nothing was charged for this attempt.",
            "HD Redraw 账户剩余次数不足。请联系服务商充值后再运行;本次未扣费。", **kw)
    if "16MB" in msg or "文件大小" in msg:
        return InputTooLargeError(
            "The uploaded file is larger than the service's 16 MB limit. Use a smaller image or let the pack "
            "re-encode it (JPEG fallback is on by default).",
            "上传文件超过服务的 16MB 限制。请使用更小的图片(插件默认会自动改用 JPEG 压缩)。", **kw)
    if "扩展参数错误" in msg or "参数错误" in msg:
        return ParameterError(
            "The service rejected a parameter: each expand_* value must be between 0.0 and 0.3.",
            "服务拒绝了参数:expand_* 的值必须在 0.0 到 0.3 之间。", **kw)
    if "任务未找到" in msg or "状态未知" in msg:
        return TaskNotFound(
            "The service does not know this task (wrong task id, another account's task, or it expired). "
            "Check the task id and the user key.",
            "服务未找到该任务(任务ID错误、属于其他账户或已过期)。请检查任务ID和用户密钥。", **kw)
    if submitting and any(w in msg.lower() for w in ("繁忙", "频繁", "busy", "too many", "rate limit")):
        return ServiceBusy(
            "HD Redraw is busy and refused the task; nothing was charged. The pack waits and submits again.",
            "HD Redraw 繁忙,拒绝了该任务;未扣费。插件会稍后自动重新提交。", **kw)
    if msg.startswith("任务提交失败") or submitting:
        return SubmitRejected(
            "The service refused the task. Check the image and parameters; if it keeps failing, contact "
            "the service with the message below.",
            "服务拒绝了该任务。请检查图片和参数;如持续失败,请带上以下信息联系服务商。", **kw)
    return ServiceError(
        "The HD Redraw service reported an error.", "HD Redraw 服务返回错误。", **kw)


def from_hidream(code: object, message: str, *, task_id: str | None = None, http_status: int | None = None
                 ) -> HDRedrawError:
    """Map a HiDream non-zero `code` (or HTTP 401/403) to an error with advice."""
    kw = {"task_id": task_id, "upstream": f"code {code}: {message}" if code is not None else message,
          "service": "hidream"}
    low = (message or "").lower()
    if http_status in (401, 403) or "token" in low or "auth" in low or "unauthor" in low:
        return AuthError(
            "HiDream rejected the API token (it may have expired: legacy tokens last one day). Set a new "
            "token in HIDREAM_API_TOKEN or the pack's settings.",
            "HiDream 拒绝了 API token(可能已过期,旧版 token 有效期为 1 天)。请在 HIDREAM_API_TOKEN 或插件设置中更新。",
            **kw)
    if http_status == 429 or "rate limit" in low or "too many" in low or "busy" in low or "繁忙" in message:
        return ServiceBusy(
            "HiDream is busy and refused the request; nothing was charged. The pack waits and submits again.",
            "HiDream 繁忙,拒绝了该请求;未扣费。插件会稍后自动重新提交。", **kw)
    if "balance" in low or "余额" in message or "credit" in low or "积分" in message:
        return BalanceError(
            "The HiDream account has no credit left. Top up, then run again.",
            "HiDream 账户余额不足。请充值后再运行。", **kw)
    return SubmitRejected(
        "HiDream refused the request. Check the image and mode; if it keeps failing, contact HiDream with "
        "the message below.", "HiDream 拒绝了请求。请检查图片和模式;如持续失败,请带上以下信息联系 HiDream。", **kw)


def spend_guard(new: int, cap: int, already: int = 0) -> SpendGuardError:
    before_en = f" ({already} already started in this prompt or command)" if already else ""
    before_zh = f"(本次提示词或命令中已新建 {already} 个)" if already else ""
    return SpendGuardError(
        f"This run would start {new} new paid task(s){before_en}, more than the spend guard allows ({cap} per "
        "queued prompt or command). Nothing was submitted and nothing was charged. Raise the cap with "
        "HDREDRAW_MAX_NEW_TASKS (or the pack's settings), or split the work.",
        f"本次运行将新建 {new} 个付费任务{before_zh},超过消费保护上限(每个提示词或命令 {cap} 个)。未提交任何任务,未扣费。"
        "可通过 HDREDRAW_MAX_NEW_TASKS(或插件设置)调高上限,或拆分处理。")


def unrecorded_task(task_id: str, cause: HDRedrawError) -> JournalError:
    """The service created the task but the journal could not record it: the id must reach the user."""
    return JournalError(
        f"Task {task_id} was created (and charged) but could not be recorded in the journal ({cause.en}). Its "
        f"result is not lost: fetch it with the Fetch Task node or `hdredraw fetch {task_id}` at no cost. Fix the "
        "journal before running these inputs again, or they would be submitted anew.",
        f"任务 {task_id} 已创建(并扣费),但无法写入任务记录({cause.zh})。结果不会丢失:可用“获取任务结果”节点或 "
        f"`hdredraw fetch {task_id}` 免费取回。再次运行相同输入前请先修复任务记录,否则会重新提交。", task_id=task_id)


def earlier_uncertain(when: float, task_id: str | None = None) -> SubmitUncertain:
    import time as _time

    stamp = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(when))
    return SubmitUncertain(
        f"An earlier attempt of exactly this request ({stamp}) may have reached the service and been charged, "
        "but its answer was lost, so it is not sent again automatically. Check your balance and task list; to "
        "submit it anew anyway, change 'variation'.",
        f"此前({stamp})完全相同的请求可能已到达服务端并扣费,但未收到答复,因此不会自动重发。请检查余额和任务列表;"
        "如确需重新提交,请修改 variation。", task_id=task_id)
