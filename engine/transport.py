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
from .http_faults import (
    NOT_PROCESSED_5XX,
    UNCERTAIN_REDIRECTS,
    Retryable,
    RetryPolicy,
    ca_bundle_from_env,
    describe,
    never_connected,
    not_sent,
    parse_answer,
    parse_retry_after,
    redirect_error,
    safe_json,
    tls_error,
    too_large,
)
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

    def check(self, in_flight_submit: bool = False) -> None:
        """Raise Cancelled or JobTimeout if it is time to stop.

        While a submit is in flight the deadline is not applied (its answer must be read and recorded), and
        Cancel raises an error that says the task may exist.
        """
        if self.cancel is not None and self.cancel():
            if in_flight_submit:
                raise errors.cancelled_in_flight()
            raise errors.cancelled_error(self.task_id)
        if not in_flight_submit and time.monotonic() > self.deadline:
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
        ca = ca_bundle_from_env()
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

    def submit(self, path: str, ctx: Context, *, method: str = "POST", data: dict[str, str] | None = None,
               files: dict[str, tuple[str, bytes, str]] | None = None, json_body: Any = None,
               headers: dict[str, str] | None = None, on_late_answer: Callable[[dict[str, Any]], None] | None = None,
               busy_raises: bool = False) -> dict[str, Any]:
        """POST that creates a task: retried only while it cannot have reached the service.

        The request is built on the caller's thread first, so a bad URL, a header that cannot be sent or a
        text that cannot be encoded fails as `NotSent` before any byte leaves.  Once it is on the wire, the
        deadline no longer cuts it short (the read timeout is the full one, so a late answer is still read
        and its task id recorded); Cancel stops the wait at once, and the answer, if it comes, goes to
        `on_late_answer`.  Redirects are never followed: the form carries the key.
        """
        request = self._prepare(method, self.url(path), data=data, files=files, json=json_body, headers=headers)
        policy = self.retry
        for attempt in range(policy.attempts):
            ctx.check()
            try:
                resp = self._call(lambda stop: self._send(request.copy(), self.timeout), ctx, in_flight=True,
                                  on_late=on_late_answer)
            except HDRedrawError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is classified: sent or not
                if not isinstance(exc, requests.exceptions.SSLError) and never_connected(exc):
                    log.info("submit to %s: %s (attempt %d); not sent, retrying", self.name, describe(exc)[0],
                             attempt + 1)
                    self._backoff(ctx, policy, attempt, None)
                    continue
                if isinstance(exc, requests.exceptions.SSLError):
                    raise tls_error(self.name, exc) from None
                raise errors.submit_uncertain(self.name, *describe(exc)) from None
            code = resp.status_code
            if code == 429 and busy_raises:  # the caller's scheduler decides when to try again
                raise errors.ServiceBusy(
                    f"{self.name} is busy (HTTP 429); nothing was charged.", f"{self.name} 繁忙(HTTP 429);未扣费。",
                    retry_after=parse_retry_after(resp.headers.get("Retry-After")))
            if code == 429:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                log.info("submit to %s: 429, retrying after %s", self.name, retry_after)
                self._backoff(ctx, policy, attempt, retry_after)
                continue
            if 300 <= code < 400:
                raise redirect_error(self.name, code, resp.headers.get("Location"), self.base_url,
                                     processed=code in UNCERTAIN_REDIRECTS)
            if code >= 500 and code not in NOT_PROCESSED_5XX:
                raise errors.submit_uncertain(self.name, f"HTTP {code}", f"HTTP {code}")
            self._raise_for_client_error(resp)
            try:
                return parse_answer(resp)
            except Retryable as bad:
                raise errors.submit_uncertain(self.name, bad.en, bad.zh) from None
        raise errors.NotSent(
            f"Could not reach {self.name} at {self.host} after {policy.attempts} attempts; nothing was sent. "
            "Check the network, the proxy (HTTPS_PROXY) and the base URL.",
            f"尝试 {policy.attempts} 次仍无法连接 {self.name}({self.host}),请求未发出。请检查网络、代理(HTTPS_PROXY)和接口地址。",
            task_id=ctx.task_id)

    def query(self, method: str, path: str, ctx: Context, *, data: dict[str, str] | None = None,
              params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """An idempotent JSON call (status checks): retried on every transient failure, never redirected."""
        request = self._prepare(method, self.url(path), data=data, params=params, headers=headers)

        def attempt_once(stop: threading.Event) -> dict[str, Any]:
            resp = self._send(request.copy(), self._timeout(ctx))
            if 300 <= resp.status_code < 400:
                raise redirect_error(self.name, resp.status_code, resp.headers.get("Location"), self.base_url,
                                     processed=False, task_id=ctx.task_id)
            self._raise_retryable(resp)
            self._raise_for_client_error(resp, ctx.task_id)
            return parse_answer(resp)

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
                self._raise_for_client_error(resp, ctx.task_id or "")
                length = resp.headers.get("Content-Length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise too_large(max_bytes, ctx.task_id)
                chunks, size = [], 0
                for chunk in resp.iter_content(256 * 1024):
                    if stop.is_set():
                        raise errors.cancelled_error(ctx.task_id)
                    size += len(chunk)
                    if size > max_bytes:
                        raise too_large(max_bytes, ctx.task_id)
                    chunks.append(chunk)
                body = b"".join(chunks)
            if length and length.isdigit() and len(body) != int(length):
                raise Retryable("download ended early", "下载提前中断")
            if validate is not None:
                try:
                    validate(body)
                except ValueError as bad:
                    raise Retryable(f"unusable result ({bad})", f"结果无法使用({bad})") from None
            return body

        return self._with_retries(attempt_once, ctx, self.status_retry, what="download")

    # ------------------------------------------------------------------ machinery

    def _prepare(self, method: str, url: str, **kwargs: Any) -> requests.PreparedRequest:
        """Build the request here, before anything is sent: whatever fails now cost nothing."""
        try:
            request = self.session.prepare_request(requests.Request(method, url, **kwargs))
            self.session.get_adapter(request.url or "")
            for value in request.headers.values():  # http.client sends header values as latin-1
                (value.encode("latin-1") if isinstance(value, str) else bytes(value))
            if isinstance(request.body, str):
                request.body = request.body.encode("utf-8")
        except Exception as exc:  # noqa: BLE001 - any failure here means nothing left the machine
            raise not_sent(self.name, exc) from None
        return request

    def _send(self, request: requests.PreparedRequest, timeout: tuple[float, float]) -> requests.Response:
        """Send without following redirects (a redirect would carry the credentials elsewhere), reading the
        whole body now: on a broken body the connection is closed at once, not when the GC gets to it."""
        options = self.session.merge_environment_settings(request.url, {}, True, None, None)
        resp = self.session.send(request, allow_redirects=False, timeout=timeout, **options)
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
            except Retryable as exc:
                last = (exc.en, exc.zh)
                retry_after = exc.retry_after
            except HDRedrawError:
                raise
            except Exception as exc:  # noqa: BLE001 - idempotent: any transport failure is worth a retry
                if isinstance(exc, requests.exceptions.SSLError):
                    raise tls_error(self.name, exc) from None
                last = describe(exc)
                retry_after = None
            log.info("%s %s failed (%s), attempt %d/%d", self.name, what, last[0], attempt + 1, policy.attempts)
            if attempt + 1 < policy.attempts:
                self._backoff(ctx, policy, attempt, retry_after)
        raise NetworkError(
            f"{self.name} kept failing ({last[0]}) after {policy.attempts} attempts. Check the network and "
            "proxy; if the service is down, try again later.",
            f"{self.name} 连续 {policy.attempts} 次失败({last[1]})。请检查网络和代理;如果服务暂时不可用,请稍后再试。",
            task_id=ctx.task_id)

    def _backoff(self, ctx: Context, policy: RetryPolicy, attempt: int, retry_after: float | None) -> None:
        delay = policy.delay(attempt, retry_after)
        if time.monotonic() + delay > ctx.deadline:
            delay = max(0.0, ctx.remaining())
        ctx.check()
        ctx.sleep(delay)

    def _call(self, fn: Callable[[threading.Event], Any], ctx: Context, in_flight: bool = False,
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
                        answer = parse_answer(box["value"])
                        on_late(answer)
                    except Exception:  # nothing to report to: the caller has gone
                        log.debug("late answer could not be recorded", exc_info=True)

        worker = threading.Thread(target=work, name="hdredraw-http", daemon=True)
        worker.start()
        try:
            while not done.wait(TICK):
                ctx.check(in_flight_submit=in_flight)
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
            raise Retryable(f"HTTP {resp.status_code}", f"HTTP {resp.status_code}",
                             parse_retry_after(resp.headers.get("Retry-After")))

    def _raise_for_client_error(self, resp: requests.Response, task_id: str | None = None) -> None:
        """A 4xx answer as a clear error.  Without a task id it answered a submit: nothing was charged; with
        one it answered a status check or download of a task that exists and can be fetched later."""
        code = resp.status_code
        if code < 400:
            return
        if task_id is None:
            tail_en, tail_zh = " Nothing was charged.", "未扣费。"
        else:
            tail_en = " The task itself is not affected: fetch its result later with its task id at no cost."
            tail_zh = "任务本身不受影响:稍后可凭任务ID免费取回结果。"
        if code in (401, 403):
            body = safe_json(resp)
            if "code" in body:
                raise errors.from_hidream(body.get("code"), str(body.get("message") or f"HTTP {code}"),
                                          http_status=code, task_id=task_id)
            raise errors.AuthError(f"{self.name} refused the credentials (HTTP {code}). Check the key or token."
                                   + tail_en, f"{self.name} 拒绝了凭据(HTTP {code})。请检查密钥或 token。" + tail_zh,
                                   task_id=task_id)
        if code == 404:
            raise ServiceError(
                f"{self.name} has no such address (HTTP 404). Check the base URL; it should be the service root "
                "without /api." + tail_en,
                f"{self.name} 找不到该地址(HTTP 404)。请检查接口地址(填写服务根地址,不带 /api)。" + tail_zh, task_id=task_id)
        if code == 413:
            raise errors.InputTooLargeError(
                f"{self.name} refused the upload as too large (HTTP 413). Use a smaller image." + tail_en,
                f"{self.name} 拒绝了过大的上传(HTTP 413)。请使用更小的图片。" + tail_zh, task_id=task_id)
        raise ServiceError(f"{self.name} refused the request (HTTP {code}). Check the base URL and the inputs."
                           + tail_en, f"{self.name} 拒绝了请求(HTTP {code})。请检查接口地址和输入。" + tail_zh,
                           upstream=resp.text[:200] if resp.text else None, task_id=task_id)
