"""What an HTTP failure means for money: was the request sent, may it have been processed, is it worth a retry.

The transport asks these questions after every failed call; the answers decide whether a submit is retried
(it never reached the service), reported as uncertain (it may have created and charged a task), or reported
as a plain failure that charged nothing.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from . import errors
from .errors import NetworkError, NotSent, ResultError, SubmitUncertain
from .redact import redact_answer

# 5xx answers that say the server did not take the request on at all (not implemented / wrong HTTP version).
NOT_PROCESSED_5XX = frozenset({501, 505})
# Redirects after a POST that may follow processing (Post/Redirect/Get); 301/307/308 say "ask elsewhere".
UNCERTAIN_REDIRECTS = frozenset({302, 303})
# Answer fields that hold result file addresses (HD Redraw's status answer, HiDream's sub-task results).
RESULT_URL_KEYS = frozenset({"images_url", "images_urls", "grid_url", "images_url_1m", "vector_url", "image"})


# Multiplies every wait between attempts (backoff, Retry-After, busy pauses). 1.0 in real use; the test
# suite lowers it so that tests which are not about waiting do not wait.
BACKOFF_SCALE = 1.0


@dataclass
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 15.0
    retry_after_cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter exponential backoff; a Retry-After from the service wins (up to a cap)."""
        if retry_after is not None:
            return BACKOFF_SCALE * min(max(retry_after, 0.0), self.retry_after_cap)
        return BACKOFF_SCALE * random.uniform(0, min(self.cap, self.base * (2 ** attempt)))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        return max(0.0, seconds) if seconds == seconds else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


class Retryable(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, en: str, zh: str, retry_after: float | None = None):
        super().__init__(en)
        self.en, self.zh, self.retry_after = en, zh, retry_after


def never_connected(exc: BaseException) -> bool:
    """True when the request cannot have reached the service (so even a submit may be retried)."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError,
                        requests.exceptions.SSLError)):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        from urllib3.exceptions import NameResolutionError, NewConnectionError

        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, (NewConnectionError, NameResolutionError))
    return False


def describe(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out", "连接超时"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "no answer within the read timeout", "在读取超时内没有响应"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS/certificate error", "TLS/证书错误"
    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy error", "代理错误"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)):
        return "connection dropped while receiving the answer", "接收响应时连接中断"
    if never_connected(exc):
        return "could not connect", "无法连接"
    if isinstance(exc, requests.RequestException):
        return "connection reset or closed", "连接被重置或关闭"
    return f"unexpected failure ({type(exc).__name__})", f"意外错误({type(exc).__name__})"


def not_sent(name: str, exc: BaseException) -> NotSent:
    """A request that could not even be built (bad URL, header or text): nothing left the machine."""
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return NotSent(
            f"The {name} base URL is not a usable http(s) address ({exc}). Nothing was sent and nothing was "
            "charged. Fix the base URL in the pack's settings or its environment variable.",
            f"{name} 接口地址不是可用的 http(s) 地址({exc})。请求未发出,未扣费。请在插件设置或环境变量中修正接口地址。")
    if isinstance(exc, requests.exceptions.InvalidHeader) or (
            isinstance(exc, UnicodeError) and "latin" in str(exc).lower()):
        return NotSent(
            f"The {name} key or token contains a character that cannot be sent in an HTTP header. Nothing was "
            "sent and nothing was charged. Enter the key again (copy it without spaces or line breaks).",
            f"{name} 的密钥或 token 含有无法放入 HTTP 头的字符。请求未发出,未扣费。请重新填写密钥(不要带空格或换行)。")
    return NotSent(
        f"The request to {name} could not be built ({type(exc).__name__}: {exc}). Nothing was sent and nothing "
        "was charged. Check the text inputs (prompt) and the settings.",
        f"无法构造发往 {name} 的请求({type(exc).__name__}:{exc})。请求未发出,未扣费。请检查文本输入(提示词)和设置。")


def redirect_error(name: str, code: int, location: str | None, base_url: str, *, processed: bool,
                   task_id: str | None = None) -> SubmitUncertain | errors.ServiceError:
    """A redirect to a credentialed call is never followed (it would carry the key to the new address)."""
    target = urlsplit(location or "")
    where = f"{target.scheme}://{target.netloc}" if target.netloc else (location or "?")
    advice_en = (f"The pack never follows a redirect with your key. If the service has moved, change the base URL "
                 f"(now {base_url}) after checking the new address with the service.")
    advice_zh = f"插件不会携带密钥跟随重定向。如服务地址已变更,请先向服务商确认新地址,再修改接口地址(当前 {base_url})。"
    if processed:
        return SubmitUncertain(
            f"{name} answered the submit with a redirect (HTTP {code} to {where}) that can follow a processed "
            f"request: the task may have been created and charged, so it was NOT sent again. {advice_en}",
            f"{name} 对提交请求返回了重定向(HTTP {code},指向 {where}),该请求可能已被处理:任务可能已创建并扣费,"
            f"因此没有重发。{advice_zh}")
    if task_id is not None:  # a status check: the task exists and keeps running
        return errors.ServiceError(
            f"{name} answered a status check with a redirect (HTTP {code} to {where}); it was not followed. The "
            f"task keeps running: fetch its result later with its task id at no cost. {advice_en}",
            f"{name} 对状态查询返回了重定向(HTTP {code},指向 {where});未跟随。任务仍在运行:稍后可凭任务ID免费取回。{advice_zh}",
            task_id=task_id)
    return errors.ServiceError(
        f"{name} answered with a redirect (HTTP {code} to {where}); it was not followed and nothing was charged. "
        f"{advice_en}",
        f"{name} 返回了重定向(HTTP {code},指向 {where});未跟随,未扣费。{advice_zh}")


def safe_json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return redact_answer(data, RESULT_URL_KEYS) if isinstance(data, dict) else {}


def parse_answer(resp: requests.Response) -> dict[str, Any]:
    """The JSON object a service answered, with any echo of a key or token masked before anyone sees it."""
    try:
        data = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Retryable("the answer was not valid JSON", "响应不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise Retryable("the answer was not a JSON object", "响应不是 JSON 对象")
    return redact_answer(data, RESULT_URL_KEYS)


def too_large(max_bytes: int, task_id: str | None) -> ResultError:
    mb = max_bytes / (1024 * 1024)
    return ResultError(
        f"A result is larger than the {mb:.0f} MB download cap; it was not loaded. Raise HDREDRAW_MAX_RESULT_MB "
        "if you expect results this large.",
        f"结果超过 {mb:.0f} MB 的下载上限,未加载。如确需更大的结果,请调大 HDREDRAW_MAX_RESULT_MB。", task_id=task_id)


def tls_error(name: str, exc: BaseException | None = None) -> NetworkError:
    """A TLS failure, told apart: an https:// address whose server speaks plain HTTP is not a certificate
    problem (the fix is the address, not a CA bundle)."""
    text = str(exc or "").lower()
    if any(s in text for s in ("wrong_version_number", "wrong version number", "http_request", "record layer",
                               "packet length too long", "unknown protocol")):
        return NetworkError(
            f"{name} did not answer in TLS: the server at this address speaks plain HTTP. If it is meant to be "
            "reached without TLS (a local emulator, for instance), write the base URL with http:// instead of "
            "https://. Nothing was sent and nothing was charged.",
            f"{name} 没有以 TLS 响应:该地址的服务器使用的是普通 HTTP。如果它本就不使用 TLS(例如本地模拟服务),"
            "请把接口地址中的 https:// 改为 http://。请求未发出,未扣费。")
    return NetworkError(
        f"The TLS certificate of {name} could not be verified. Behind a company proxy, point REQUESTS_CA_BUNDLE "
        "(or SSL_CERT_FILE) at your CA bundle; verification is never switched off.",
        f"无法验证 {name} 的 TLS 证书。如在公司代理后,请将 REQUESTS_CA_BUNDLE(或 SSL_CERT_FILE)指向您的 CA 证书;"
        "插件不会关闭证书校验。")


def ca_bundle_from_env() -> str | None:
    """requests honours REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE; also honour SSL_CERT_FILE like the ssl module."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and os.path.exists(value):
            return value
    return None
