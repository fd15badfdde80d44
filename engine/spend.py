"""The spend guard: at most N new paid tasks per scope (one queued ComfyUI prompt, one CLI command).

A scope outlives a single node execution on purpose: a ComfyUI list input runs a node once per item, and a
prompt may hold several pack nodes, so a per-call count would let them through one by one.  Only new
submissions count; reused and resumed tasks are free.
"""

from __future__ import annotations

import threading

from . import errors


class SpendGuard:
    """Counts new paid tasks in one scope against a cap.  Thread-safe."""

    def __init__(self, cap: int):
        self.cap = int(cap)
        self.used = 0
        self.reserved = 0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> Reservation:
        """Claim `count` new tasks up front, or raise SpendGuardError before anything is sent."""
        with self._lock:
            if count > 0 and self.used + self.reserved + count > self.cap:
                raise errors.spend_guard(count, self.cap, self.used + self.reserved)
            self.reserved += count
        return Reservation(self, count)

    def left(self) -> int:
        with self._lock:
            return max(0, self.cap - self.used - self.reserved)


class Reservation:
    """Part of a guard's cap set aside for one batch; each submission takes one slot just before it is sent."""

    def __init__(self, guard: SpendGuard, count: int):
        self.guard = guard
        self.slots = count

    def take(self) -> None:
        """One new submission is about to be sent: use a reserved slot, or a fresh one if the cap allows."""
        g = self.guard
        with g._lock:
            if self.slots > 0:
                self.slots -= 1
                g.reserved -= 1
            elif g.used + g.reserved + 1 > g.cap:
                raise errors.spend_guard(1, g.cap, g.used + g.reserved)
            g.used += 1

    def refund(self) -> None:
        """A taken slot whose submission never left the machine (or was refused): it cost nothing."""
        with self.guard._lock:
            self.guard.used = max(0, self.guard.used - 1)

    def release(self) -> None:
        """Give back what the batch did not use (reused or failed before sending)."""
        with self.guard._lock:
            self.guard.reserved -= self.slots
            self.slots = 0
