"""Accounts, tasks, faults and records: everything the emulator remembers.

All shared state sits behind one lock.  Image work (decoding, transforms,
encoding) never runs under it: results are computed once per task, under that
task's own lock, on a background thread started at submission (a status answer
or download that needs them first simply waits for it).
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..specs import HIDREAM, OPERATIONS, Operation
from . import imaging

PHASES = ("submit", "status", "download")
FAULT_KINDS = ("500", "501", "502", "503", "429", "hang", "drop", "drop_after_accept", "malformed", "truncate",
               "late", "redirect", "echo")
# late: processed, answered after `seconds`; redirect: answered 3xx (`code`, `location`) without processing;
# echo: processed, and the caller's key is echoed into every text of the answer (a careless service).
FAIL_KINDS = ("failed", "moderation")
MAX_UPLOAD = 16 * 1024 * 1024

# Result keys: URL suffix after /api/images/<tag>/<task_id>, or "svg" for HiDream's /media file.
_DOWNLOAD_RE = re.compile(r"/api/images/([^/]+)/([^/]+)(/grid|/1x|/vector|/alternative/\d+)?/?")
_MEDIA_RE = re.compile(r"/media/([0-9a-fA-F-]+)_final\.svg")


def account_tag(key: str) -> str:
    """The path segment that ties result URLs to an account without exposing its key."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


@dataclass
class Fault:
    kind: str
    remaining: int
    opts: dict[str, Any]


@dataclass
class Task:
    id: str
    op: str
    account: str  # HD Redraw user_key or HiDream token
    created: float
    done_at: float
    image: Image.Image | None
    params: dict[str, Any]
    fail: str | None = None
    sub_task_id: str = ""
    media_id: str = ""
    polls: int = 0
    results: dict[str, tuple[bytes, str]] | None = None
    prompt: str | None = None
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def tag(self) -> str:
        return account_tag(self.account)

    def status(self, now: float) -> str:
        """HD Redraw wording: Pending for the first 20% of the time, then Processing, then the end state."""
        if now >= self.done_at:
            return "Failed" if self.fail else "Completed"
        return "Pending" if now - self.created < 0.2 * (self.done_at - self.created) else "Processing"

    def progress(self, now: float) -> float:
        span = self.done_at - self.created
        return 1.0 if span <= 0 else round(min(1.0, max(0.0, (now - self.created) / span)), 2)


class EmulatorState:
    """The bookkeeping half of the emulator; `server.Emulator` adds HTTP on top."""

    def __init__(self, processing_time: float = 2.0, status_cache: float = 3.0, user_key: str = "emulator-key",
                 hidream_token: str = "emulator-token", remaining_count: int = 100, remaining_money: int = 300,
                 price: int = 1):
        self._lock = threading.RLock()
        self._processing_time = float(processing_time)
        self.max_concurrent: int | None = None  # answer submits with 429 while this many tasks are running
        self._status_cache = float(status_cache)
        self._op_times: dict[str, float] = {}
        self._tokens = {hidream_token}
        self.user_key = user_key
        self.hidream_token = hidream_token
        self.price = price
        self._default_accounts = {user_key: {"remaining_count": int(remaining_count),
                                             "remaining_money": int(remaining_money)}}
        self._released = threading.Event()  # set, and replaced, when a reset or stop ends every hang
        self.reset()

    # ------------------------------------------------------------------ configuration

    @property
    def processing_time(self) -> float:
        return self._processing_time

    @processing_time.setter
    def processing_time(self, seconds: float) -> None:
        with self._lock:
            self._processing_time = max(0.0, float(seconds))

    @property
    def status_cache(self) -> float:
        return self._status_cache

    @status_cache.setter
    def status_cache(self, seconds: float) -> None:
        with self._lock:
            self._status_cache = max(0.0, float(seconds))
            self._cache.clear()

    def running(self) -> int:
        """Tasks accepted and not yet finished (what a service's concurrency limit counts)."""
        now = time.time()
        with self._lock:
            return sum(1 for t in self._tasks.values() if t.done_at > now and not t.fail)

    def set_processing_time(self, op_id: str, seconds: float | None) -> None:
        """Per-operation processing time (None goes back to the global `processing_time`)."""
        if op_id not in OPERATIONS:
            raise ValueError(f"unknown operation {op_id!r}")
        with self._lock:
            if seconds is None:
                self._op_times.pop(op_id, None)
            else:
                self._op_times[op_id] = max(0.0, float(seconds))

    def _duration(self, op_id: str, params: dict[str, Any]) -> float:
        t = self._op_times.get(op_id, self._processing_time)
        return t * 0.3 if params.get("mode") == "fast" else t

    # ------------------------------------------------------------------ accounts

    def add_account(self, key: str, remaining_count: int = 0, remaining_money: int = 0) -> None:
        with self._lock:
            self._accounts[key] = {"remaining_count": int(remaining_count), "remaining_money": int(remaining_money)}

    def account(self, key: str) -> dict[str, int]:
        with self._lock:
            return dict(self._accounts[key])

    def add_token(self, token: str) -> None:
        """Accept another HiDream bearer token."""
        with self._lock:
            self._tokens.add(token)

    def _has_account(self, key: str | None) -> bool:
        with self._lock:
            return bool(key) and key in self._accounts

    def _valid_token(self, token: str | None) -> bool:
        with self._lock:
            return bool(token) and token in self._tokens

    # ------------------------------------------------------------------ faults

    def inject(self, phase: str, kind: str, count: int = 1, **opts: Any) -> None:
        """The next `count` requests of `phase` get fault `kind` (queued after earlier faults)."""
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {', '.join(PHASES)}")
        kind = str(kind)
        if kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        if int(count) > 0:
            with self._lock:
                self._faults[phase].append(Fault(kind, int(count), dict(opts)))

    def fail_next(self, kind: str = "failed", count: int = 1) -> None:
        """The next `count` created tasks end Failed (moderation: HiDream status 4)."""
        if kind not in FAIL_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAIL_KINDS)}")
        with self._lock:
            self._fail_next.extend([kind] * int(count))

    def _take_fault(self, phase: str | None) -> Fault | None:
        with self._lock:
            queue = self._faults.get(phase or "")
            if not queue:
                return None
            head = queue[0]
            head.remaining -= 1
            if head.remaining <= 0:
                queue.popleft()
            return Fault(head.kind, 1, head.opts)

    # ------------------------------------------------------------------ records

    @property
    def submissions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._submissions)

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._requests]

    def _record_request(self, method: str, path: str, phase: str | None, fault: str | None) -> None:
        with self._lock:
            self._requests.append({"method": method, "path": path, "phase": phase, "fault": fault,
                                   "time": time.time()})

    def status_polls(self, task_id: str) -> int:
        with self._lock:
            task = self._tasks.get(task_id)
            return task.polls if task else 0

    def task(self, task_id: str) -> dict[str, Any]:
        """A snapshot of one task (KeyError when unknown)."""
        with self._lock:
            t = self._tasks[task_id]
            info = {"task_id": t.id, "op": t.op, "created": t.created, "done_at": t.done_at,
                    "status": t.status(time.time()), "fail": t.fail, "polls": t.polls,
                    "params": dict(t.params), "error": t.error}
        if info["status"] == "Completed":
            self._ensure_results(t)
            info["status"], info["fail"], info["error"] = t.status(time.time()), t.fail, t.error
        info["urls"] = self._result_urls(t) if t.results else {}
        return info

    def state(self) -> dict[str, Any]:
        """What GET /__emulator__/state reports."""
        with self._lock:
            return {"submissions": copy.deepcopy(self._submissions),
                    "accounts": {k: dict(v) for k, v in self._accounts.items()},
                    "request_count": len(self._requests), "task_count": len(self._tasks),
                    "processing_time": self._processing_time, "status_cache": self._status_cache,
                    "pending_faults": {p: [(f.kind, f.remaining) for f in q] for p, q in self._faults.items()},
                    "pending_fail_next": list(self._fail_next), "max_concurrent": self.max_concurrent,
                    "busy_refusals": self.busy_refusals}

    def reset(self) -> None:
        """Forget tasks, records, faults, cached answers and per-operation times; restore the default accounts.

        The global `processing_time` and `status_cache` are configuration and stay as they are.
        """
        with self._lock:
            self._release_hangs()
            self._accounts = copy.deepcopy(self._default_accounts)
            self._op_times.clear()
            self._tokens = {self.hidream_token}
            self._tasks: dict[str, Task] = {}
            self._media: dict[str, str] = {}
            self._faults: dict[str, deque[Fault]] = {p: deque() for p in PHASES}
            self._fail_next: deque[str] = deque()
            self._submissions: list[dict[str, Any]] = []
            self._requests: list[dict[str, Any]] = []
            self.max_concurrent = None
            self.busy_refusals = 0
            self._cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}

    def _release_hangs(self) -> None:
        old, self._released = self._released, threading.Event()
        old.set()

    def _hang(self, seconds: float) -> bool:
        """Wait like a slow service.  True when a reset or stop cut the wait short: the request is then
        dropped unprocessed, so a test's long hang never lingers into (or creates a task in) the next test."""
        return self._released.wait(seconds)

    # ------------------------------------------------------------------ tasks

    def _create_task(self, op: Operation, account: str, image: Image.Image, params: dict[str, Any],
                     record: dict[str, Any]) -> tuple[Task | None, dict[str, int]]:
        """Charge (HD Redraw) and create a task; (None, {}) when the balance is exhausted."""
        now = time.time()
        with self._lock:
            balance: dict[str, int] = {}
            if op.service != HIDREAM:
                acct = self._accounts.get(account)
                if acct is None:
                    return None, {}
                if acct["remaining_count"] > 0:
                    acct["remaining_count"] -= 1
                elif acct["remaining_money"] >= self.price:
                    acct["remaining_money"] -= self.price
                else:
                    return None, {}
                balance = dict(acct)
            hidream = op.service == HIDREAM
            task = Task(id=str(uuid.uuid4()) if hidream else uuid.uuid4().hex, op=op.id, account=account,
                        created=now, done_at=now + self._duration(op.id, params), image=image, params=params,
                        fail=self._fail_next.popleft() if self._fail_next else None)
            if hidream:
                task.sub_task_id, task.media_id = str(uuid.uuid4()), str(uuid.uuid4())
                self._media[task.media_id] = task.id
            self._tasks[task.id] = task
            self._submissions.append({"op": op.id, "endpoint": op.endpoint, "task_id": task.id, **record,
                                      "time": now})
        # Work on the result while the task "processes", so it is ready when the task reports Completed,
        # as on the real service (computed once; a status or download that comes first waits for it).
        threading.Thread(target=self._ensure_results, args=(task,), name="hdredraw-emulator-work",
                         daemon=True).start()
        return task, balance

    def _lookup(self, task_id: str) -> Task | None:
        with self._lock:
            return self._tasks.get(task_id)

    def _ensure_results(self, task: Task) -> dict[str, tuple[bytes, str]]:
        """Compute a finished task's files once; a transform error turns the task into Failed."""
        with task.lock:
            if task.results is not None:
                return task.results
            res: dict[str, tuple[bytes, str]] = {}
            try:
                out = imaging.run(task.op, task.image, task.params)  # type: ignore[arg-type]
                for i, img in enumerate(out.images):
                    res["" if i == 0 else f"/alternative/{i}"] = (imaging.encode_png(img), "image/png")
                if out.image_1x is not None:
                    res["/1x"] = (imaging.encode_png(out.image_1x), "image/png")
                if out.grid is not None:
                    res["/grid"] = (imaging.encode_png(out.grid), "image/png")
                if out.eps is not None:
                    res["/vector"] = (out.eps, "application/postscript")
                if out.svg is not None:
                    res["svg"] = (out.svg.encode("utf-8"), "image/svg+xml")
                task.prompt = out.prompt
            except Exception as exc:  # a broken transform must fail the task, not the server
                res = {}
                with self._lock:
                    task.error, task.fail = f"{type(exc).__name__}: {exc}", "failed"
            task.results, task.image = res, None
            return res

    def _result_urls(self, task: Task) -> dict[str, str]:
        base = self.base_url
        if task.op in OPERATIONS and OPERATIONS[task.op].service == HIDREAM:
            return {"svg": f"{base}/media/{task.media_id}_final.svg"}
        root = f"{base}/api/images/{task.tag}/{task.id}"
        return {key: root + key for key in (task.results or {})}

    @property
    def port(self) -> int:  # overridden by the HTTP server
        return 0

    @property
    def base_url(self) -> str:  # overridden by the HTTP server
        return "http://127.0.0.1"

    # ------------------------------------------------------------------ answers

    def _hd_status(self, key: str, task_id: str) -> dict[str, Any] | None:
        """The check_task_status body (cached per key and task), or None for an unknown/foreign task."""
        now = time.time()
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or task.account != key or OPERATIONS[task.op].service == HIDREAM:
                return None
            task.polls += 1
            hit = self._cache.get((key, task_id))
            if hit and self._status_cache > 0 and now - hit[0] < self._status_cache:
                return hit[1]
            status = task.status(now)
        body: dict[str, Any] = {"err_code": 0, "status": status}
        if status == "Completed":
            results = self._ensure_results(task)
            if task.fail:
                body["status"] = "Failed"
            else:
                body.update(self._completed_fields(task, results))
        with self._lock:
            if self._status_cache > 0:
                self._cache[(key, task_id)] = (now, body)
        return body

    def _completed_fields(self, task: Task, results: dict[str, tuple[bytes, str]]) -> dict[str, Any]:
        urls = self._result_urls(task)
        out: dict[str, Any] = {"images_url": urls[""]}
        extra = sorted((k for k in urls if k.startswith("/alternative/")), key=lambda k: int(k.rsplit("/", 1)[1]))
        if extra:
            out["images_urls"] = [urls[""], *(urls[k] for k in extra)]
        if "/1x" in urls:
            out["images_url_1m"] = urls["/1x"]
        out["vector_url"] = urls.get("/vector", "")
        out["grid_url"] = urls.get("/grid", "")
        if task.prompt is not None:
            out["generated_prompt"] = task.prompt
        with self._lock:
            out.update(self._accounts.get(task.account, {"remaining_count": 0, "remaining_money": 0}))
        return out

    def _download(self, path: str) -> tuple[bytes, str] | None:
        """The bytes and content type behind a result URL path, or None (not found / not finished)."""
        m = _DOWNLOAD_RE.fullmatch(path)
        media = _MEDIA_RE.fullmatch(path)
        if m:
            task, key = self._lookup(m.group(2)), m.group(3) or ""
            if task is None or task.tag != m.group(1) or OPERATIONS[task.op].service == HIDREAM:
                return None
        elif media:
            with self._lock:
                task = self._tasks.get(self._media.get(media.group(1), ""))
            key = "svg"
        else:
            return None
        if task is None or task.status(time.time()) != "Completed":
            return None
        return self._ensure_results(task).get(key)
