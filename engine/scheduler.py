"""One limiter per service for the whole process: how many tasks may run on it at once.

Nodes overlap in a ComfyUI graph and CLI work shares the same process, so per-node pools cannot bound the
load on a service.  Every new task takes a slot here before it is submitted and gives it back once the
service has finished it.  The limit adapts the way TCP does: it starts at the configured concurrency (a
user-set value is also its ceiling), halves when the service says it is busy (429, "busy"), and grows back
by one after a full window of successes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from . import http_faults
from .redact import get_logger
from .transport import TICK, Context

log = get_logger("hdredraw.scheduler")


class AdaptiveLimiter:
    """A counting semaphore whose size follows the service's answers.  Thread-safe."""

    def __init__(self, limit: int):
        self.ceiling = max(1, int(limit))
        self.limit = self.ceiling
        self.active = 0
        self.successes = 0
        self.busy_until = 0.0
        self.halved_at = float("-inf")
        self._cond = threading.Condition()

    def configure(self, limit: int) -> None:
        """A new ceiling (the settings changed); the current limit never exceeds it."""
        with self._cond:
            raised = max(1, int(limit)) > self.ceiling and self.limit == self.ceiling
            self.ceiling = max(1, int(limit))
            self.limit = self.ceiling if raised else min(self.limit, self.ceiling)
            self._cond.notify_all()

    @contextmanager
    def slot(self, ctx: Context, on_wait: Callable[[int, int], None] | None = None) -> Iterator[None]:
        """Hold one slot while the body runs; waiting answers Cancel and the deadline like any wait."""
        self.acquire(ctx, on_wait)
        ok = False
        try:
            yield
            ok = True
        finally:
            self.release(ok)

    def acquire(self, ctx: Context, on_wait: Callable[[int, int], None] | None = None) -> None:
        told = False
        while True:
            ctx.check()
            with self._cond:
                if self.active < self.limit and time.monotonic() >= self.busy_until:
                    self.active += 1
                    return
                if on_wait is not None and not told:
                    told = True
                    on_wait(self.active, self.limit)
                self._cond.wait(TICK)

    def release(self, ok: bool = True) -> None:
        with self._cond:
            self.active = max(0, self.active - 1)
            if ok:
                self.successes += 1
                if self.successes >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self.successes = 0
                    log.info("service keeps up: concurrency back to %d", self.limit)
            self._cond.notify_all()

    def busy(self, retry_after: float | None = None) -> None:
        """The service refused work because it is busy: halve the limit and pause new submits briefly.

        The refusals of one wave arrive together; they halve the limit once, not once each.
        """
        pause = http_faults.BACKOFF_SCALE * min(max(retry_after if retry_after is not None else 1.0, 0.0), 60.0)
        with self._cond:
            now = time.monotonic()
            before = self.limit
            if now >= self.halved_at + max(pause, http_faults.BACKOFF_SCALE):
                self.limit = max(1, self.limit // 2)
                self.halved_at = now
            self.successes = 0
            self.busy_until = max(self.busy_until, now + pause)
            if self.limit != before:
                log.info("service busy: concurrency %d -> %d", before, self.limit)
            self._cond.notify_all()


_limiters: dict[str, AdaptiveLimiter] = {}
_lock = threading.Lock()


def limiter(service: str, limit: int) -> AdaptiveLimiter:
    """The process-wide limiter of `service` (created, or re-ceilinged, from the configured concurrency)."""
    with _lock:
        current = _limiters.get(service)
        if current is None:
            current = _limiters[service] = AdaptiveLimiter(limit)
        elif current.ceiling != max(1, int(limit)):
            current.configure(limit)
        return current
