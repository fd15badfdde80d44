"""HTTP for both services: pooled sessions, timeouts, retries, cancellation.

Two rules shape this module:

* Status checks and downloads are idempotent, so they are retried (exponential backoff with full jitter,
  honouring Retry-After) on connect errors, timeouts, 429, 5xx and broken bodies.
* A submit creates a paid task.  It is retried only when the connection was never established (or the
  service said 429, i.e. it refused to process it).  Once the request may have reached the service (read
  timeout, reset after sending, 5xx, unreadable answer) it is never repeated: `SubmitUncertain` says so.

Every blocking call runs on a worker thread while the caller's thread watches the cancel callback and the
job deadline every 0.2 s, so Cancel works within a second even mid-request or mid-download.
"""

from __future__ import annotations

import email.utils
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import errors
from .errors import HDRedrawError, NetworkError, ResultError, ServiceError
from .redact import get_logger

log = get_logger("hdredraw.transport")

USER_AGENT = "ComfyUI-HDRedraw/0.1 (+https://github.com/hdredraw/ComfyUI-HDRedraw)"
TICK = 0.2  # how often a waiting thread looks at cancel and deadline


@dataclass
class Context:
    """What one job carries through every request: how to cancel, when to give up, what to report."""

    cancel: Callable[[], bool] | None = None
    deadline: float = float("inf")  # time.monotonic() value
    timeout_total: float = 0.0
    task_id: str | None = None
    on_tick: Callable[[], None] | None = None

    @classmethod
    def with_timeout(cls, seconds: float, cancel: Callable[[], bool] | None = None) -> Context:
        return cls(cancel=cancel, deadline=time.monotonic() + seconds, timeout_total=seconds)

    def check(self, during_submit: bool = False) -> None:
        """Raise Cancelled or JobTimeout if it is time to stop."""
        if self.cancel is not None and self.cancel():
            raise errors.cancelled_error(self.task_id, during_submit=during_submit)
        if time.monotonic() > self.deadline:
            raise errors.timeout_error(self.task_id, self.timeout_total)
        if self.on_tick is not None:
            self.on_tick()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Sleep in short slices, still answering cancel and deadline."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            self.check()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(TICK, left))


@dataclass
class RetryPolicy:
    attempts: int = 5
    base: float = 0.5
    cap: float = 15.0
    retry_after_cap: float = 60.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full-jitter exponential backoff; a Retry-After from the service wins (up to a cap)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        return random.uniform(0, min(self.cap, self.base * (2 ** attempt)))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _Retryable(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(self, en: str, zh: str, retry_after: float | None = None):
        super().__init__(en)
        self.en, self.zh, self.retry_after = en, zh, retry_after


def _never_connected(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the service (so even a submit may be retried)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, (requests.exceptions.ProxyError, requests.exceptions.SSLError)):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        from urllib3.exceptions import NameResolutionError, NewConnectionError

        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return isinstance(reason, (NewConnectionError, NameResolutionError))
    return False


def _describe(exc: BaseException) -> tuple[str, str]:
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
    if _never_connected(exc):  # type: ignore[arg-type]
        return "could not connect", "无法连接"
    return "connection reset or closed", "连接被重置或关闭"


class Transport:
    """One pooled `requests.Session` per service.

    `trust_env` stays on, so HTTPS_PROXY/HTTP_PROXY/NO_PROXY and REQUESTS_CA_BUNDLE / SSL_CERT_FILE work as
    everywhere else in Python; TLS verification is always on.
    """

    def __init__(self, base_url: str, *, name: str, connect_timeout: float = 10.0, read_timeout: float = 120.0,
                 pool_size: int = 16, retry: RetryPolicy | None = None, status_retry: RetryPolicy | None = None):
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.status_retry = status_retry or RetryPolicy(attempts=8, cap=15.0)
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        ca = _ca_bundle_from_env()
        if ca:
            self.session.verify = ca

    def close(self) -> None:
        self.session.close()

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    # ------------------------------------------------------------------ the three kinds of call

    def submit(self, path: str, ctx: Context, *, data: dict[str, str] | None = None,
               files: dict[str, tuple[str, bytes, str]] | None = None, json_body: Any = None,
               headers: dict[str, str] | None = None,
               on_late_answer: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """POST that creates a task: retried only while it cannot have reached the service."""
        policy = self.retry
        for attempt in range(policy.attempts):
            ctx.check(during_submit=True)
            try:
                resp = self._call(lambda stop: self._fetch(
                    "POST", self.url(path), data=data, files=files, json=json_body, headers=headers,
                    timeout=self._timeout(ctx)), ctx, during_submit=True, on_late=on_late_answer)
            except requests.RequestException as exc:
                en, zh = _describe(exc)
                if _never_connected(exc) and not isinstance(exc, requests.exceptions.SSLError):
                    log.info("submit to %s: %s (attempt %d); not sent, retrying", self.name, en, attempt + 1)
                    self._backoff(ctx, policy, attempt, None, during_submit=True)
                    continue
                if isinstance(exc, requests.exceptions.SSLError):
                    raise _tls_error(self.name) from None
                raise errors.submit_uncertain(self.name, en, zh) from None
            if resp.status_code == 429:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                log.info("submit to %s: 429, retrying after %s", self.name, retry_after)
                self._backoff(ctx, policy, attempt, retry_after, during_submit=True)
                continue
            if resp.status_code >= 500:
                raise errors.submit_uncertain(self.name, f"HTTP {resp.status_code}", f"HTTP {resp.status_code}")
            self._raise_for_client_error(resp)
            try:
                return _json(resp)
            except _Retryable as bad:
                raise errors.submit_uncertain(self.name, bad.en, bad.zh) from None
        raise NetworkError(
            f"Could not reach {self.name} at {self.host} after {policy.attempts} attempts; nothing was sent. "
            "Check the network, the proxy (HTTPS_PROXY) and the base URL.",
            f"尝试 {policy.attempts} 次仍无法连接 {self.name}({self.host}),请求未发出。请检查网络、代理(HTTPS_PROXY)和接口地址。",
            task_id=ctx.task_id)

    def query(self, method: str, path: str, ctx: Context, *, data: dict[str, str] | None = None,
              params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """An idempotent JSON call (status checks): retried on every transient failure."""
        def attempt_once(stop: threading.Event) -> dict[str, Any]:
            resp = self._fetch(method, self.url(path), data=data, params=params, headers=headers,
                               timeout=self._timeout(ctx))
            self._raise_retryable(resp)
            self._raise_for_client_error(resp)
            return _json(resp)

        return self._with_retries(attempt_once, ctx, self.status_retry, what="status")

    def download(self, url: str, ctx: Context, *, max_bytes: int,
                 validate: Callable[[bytes], None] | None = None) -> bytes:
        """GET a result URL fully into memory (size-capped), retrying transient failures.

        `validate` may raise `ValueError` for a body that arrived but is unusable (truncated, not an
        image): that is retried too, then reported.  No credentials are sent with downloads.
        """
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ResultError(
                f"The service returned a result address that is not http(s) ({scheme or 'none'}:); it was "
                "not opened.", f"服务返回的结果地址不是 http(s)({scheme or '无'}:),已拒绝打开。",
                task_id=ctx.task_id)

        def attempt_once(stop: threading.Event) -> bytes:
            with self.session.get(url, stream=True, timeout=self._timeout(ctx)) as resp:
                self._raise_retryable(resp)
                self._raise_for_client_error(resp)
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise _too_large(max_bytes, ctx.task_id)
                chunks, size = [], 0
                for chunk in resp.iter_content(256 * 1024):
                    if stop.is_set():
                        raise errors.cancelled_error(ctx.task_id)
                    size += len(chunk)
                    if size > max_bytes:
                        raise _too_large(max_bytes, ctx.task_id)
                    chunks.append(chunk)
                body = b"".join(chunks)
            if length and length.isdigit() and len(body) != int(length):
                raise _Retryable("download ended early", "下载提前中断")
            if validate is not None:
                try:
                    validate(body)
                except ValueError as bad:
                    raise _Retryable(f"unusable result ({bad})", f"结果无法使用({bad})") from None
            return body

        return self._with_retries(attempt_once, ctx, self.status_retry, what="download")

    # ------------------------------------------------------------------ machinery

    def _fetch(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """A request whose body is read before returning; on a broken body the connection is closed now,
        not whenever the garbage collector gets to it."""
        resp = self.session.request(method, url, stream=True, **kwargs)
        with resp:
            _ = resp.content
        return resp

    def _timeout(self, ctx: Context) -> tuple[float, float]:
        connect, read = self.timeout
        left = ctx.remaining()
        if left != float("inf"):
            read = max(0.5, min(read, left + 1.0))
        return connect, read

    def _with_retries(self, fn: Callable[[threading.Event], Any], ctx: Context, policy: RetryPolicy,
                      what: str) -> Any:
        last: tuple[str, str] = ("", "")
        for attempt in range(policy.attempts):
            ctx.check()
            try:
                return self._call(fn, ctx)
            except _Retryable as exc:
                last = (exc.en, exc.zh)
                retry_after = exc.retry_after
            except requests.RequestException as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise _tls_error(self.name) from None
                last = _describe(exc)
                retry_after = None
            log.info("%s %s failed (%s), attempt %d/%d", self.name, what, last[0], attempt + 1, policy.attempts)
            if attempt + 1 < policy.attempts:
                self._backoff(ctx, policy, attempt, retry_after)
        raise NetworkError(
            f"{self.name} kept failing ({last[0]}) after {policy.attempts} attempts. Check the network and "
            "proxy; if the service is down, try again later.",
            f"{self.name} 连续 {policy.attempts} 次失败({last[1]})。请检查网络和代理;如果服务暂时不可用,请稍后再试。",
            task_id=ctx.task_id)

    def _backoff(self, ctx: Context, policy: RetryPolicy, attempt: int, retry_after: float | None,
                 during_submit: bool = False) -> None:
        delay = policy.delay(attempt, retry_after)
        if time.monotonic() + delay > ctx.deadline:
            delay = max(0.0, ctx.remaining())
        ctx.check(during_submit=during_submit)
        ctx.sleep(delay)

    def _call(self, fn: Callable[[threading.Event], Any], ctx: Context, during_submit: bool = False,
              on_late: Callable[[dict[str, Any]], None] | None = None) -> Any:
        """Run `fn` on a worker thread; watch cancel/deadline meanwhile.

        If the caller gives up on a submit whose answer later arrives, `on_late` receives the parsed
        answer so the task id is not lost.
        """
        stop = threading.Event()
        box: dict[str, Any] = {}
        done = threading.Event()
        abandoned = threading.Event()

        def work() -> None:
            try:
                box["value"] = fn(stop)
            except BaseException as exc:  # handed to the caller below
                box["error"] = exc
            finally:
                done.set()
                if abandoned.is_set() and on_late is not None and "value" in box:
                    try:
                        answer = _json(box["value"])
                        on_late(answer)
                    except Exception:  # nothing to report to: the caller has gone
                        log.debug("late answer could not be recorded", exc_info=True)

        worker = threading.Thread(target=work, name="hdredraw-http", daemon=True)
        worker.start()
        try:
            while not done.wait(TICK):
                ctx.check(during_submit=during_submit)
        except HDRedrawError:
            stop.set()
            abandoned.set()
            raise
        try:
            if "error" in box:
                raise box["error"]
            return box["value"]
        finally:
            box.clear()  # no exception → traceback → frame → box cycle keeping sockets alive

    @staticmethod
    def _raise_retryable(resp: requests.Response) -> None:
        if resp.status_code == 429 or resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}", f"HTTP {resp.status_code}",
                             parse_retry_after(resp.headers.get("Retry-After")))

    def _raise_for_client_error(self, resp: requests.Response) -> None:
        code = resp.status_code
        if code < 400:
            return
        if code in (401, 403):
            body = _safe_json(resp)
            raise errors.from_hidream(body.get("code"), str(body.get("message") or f"HTTP {code}"),
                                      http_status=code) if "code" in body else errors.AuthError(
                f"{self.name} refused the credentials (HTTP {code}). Check the key or token.",
                f"{self.name} 拒绝了凭据(HTTP {code})。请检查密钥或 token。")
        if code == 404:
            raise ServiceError(
                f"{self.name} has no such address (HTTP 404). Check the base URL; it should be the service root "
                "without /api.", f"{self.name} 找不到该地址(HTTP 404)。请检查接口地址(填写服务根地址,不带 /api)。")
        if code == 413:
            raise errors.InputTooLargeError(
                f"{self.name} refused the upload as too large (HTTP 413). Use a smaller image.",
                f"{self.name} 拒绝了过大的上传(HTTP 413)。请使用更小的图片。")
        raise ServiceError(f"{self.name} answered HTTP {code}.", f"{self.name} 返回 HTTP {code}。",
                           upstream=resp.text[:200] if resp.text else None)


def _safe_json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _json(resp: requests.Response) -> dict[str, Any]:
    try:
        data = json.loads(resp.content)
    except (ValueError, UnicodeDecodeError):
        raise _Retryable("the answer was not valid JSON", "响应不是有效的 JSON") from None
    if not isinstance(data, dict):
        raise _Retryable("the answer was not a JSON object", "响应不是 JSON 对象")
    return data


def _too_large(max_bytes: int, task_id: str | None) -> ResultError:
    mb = max_bytes / (1024 * 1024)
    return ResultError(
        f"A result is larger than the {mb:.0f} MB download cap; it was not loaded. Raise HDREDRAW_MAX_RESULT_MB "
        "if you expect results this large.",
        f"结果超过 {mb:.0f} MB 的下载上限,未加载。如确需更大的结果,请调大 HDREDRAW_MAX_RESULT_MB。", task_id=task_id)


def _tls_error(name: str) -> NetworkError:
    return NetworkError(
        f"The TLS certificate of {name} could not be verified. Behind a company proxy, point REQUESTS_CA_BUNDLE "
        "(or SSL_CERT_FILE) at your CA bundle; verification is never switched off.",
        f"无法验证 {name} 的 TLS 证书。如在公司代理后,请将 REQUESTS_CA_BUNDLE(或 SSL_CERT_FILE)指向您的 CA 证书;"
        "插件不会关闭证书校验。")


def _ca_bundle_from_env() -> str | None:
    """requests honours REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE; also honour SSL_CERT_FILE like the ssl module."""
    import os

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(name)
        if value and os.path.exists(value):
            return value
    return None
