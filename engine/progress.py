"""What a running task reports: its stage, progress fraction, status text, and the balance the service saw.

Kept apart from the job runner so the node layer and the CLI can show progress without pulling in the HTTP
stack.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import HDRedrawError
from .redact import get_logger
from .text import Text

log = get_logger("hdredraw.progress")

PROGRESS_EVERY = 1.0  # seconds between progress reports while nothing changes

STAGE_TEXT = {
    "encoding": Text("Encoding", "编码图片"),
    "submitting": Text("Submitting", "提交任务"),
    "queued": Text("Queued", "排队中"),
    "processing": Text("Processing", "处理中"),
    "downloading": Text("Downloading", "下载结果"),
    "done": Text("Done", "完成"),
}
# The service's own status words, for the status text (others are shown as they come).
STATUS_WORDS = {"pending": Text("pending", "等待中"), "processing": Text("processing", "处理中"),
                "queued": Text("queued", "排队中"), "running": Text("running", "运行中")}
# Where the progress bar stands at each stage when the service gives no percentage (HD Redraw).
STAGE_FRACTION = {"encoding": 0.0, "submitting": 0.05, "queued": 0.15, "processing": 0.5,
                  "downloading": 0.9, "done": 1.0}

_balance_lock = threading.Lock()
last_balance: dict[str, Any] = {}


def note_balance(answer: Mapping[str, Any]) -> None:
    """Remember the latest remaining count/money the service reported (shown in the UI)."""
    count, money = answer.get("remaining_count"), answer.get("remaining_money")
    if count is None and money is None:
        return
    with _balance_lock:
        last_balance.update(remaining_count=count, remaining_money=money, at=time.time())


@dataclass
class Progress:
    stage: str
    fraction: float
    exact: bool  # the service reported this fraction itself (HiDream); else it is the stage's position
    status: str  # the service's own status word, when it gave one
    elapsed: float
    task_id: str | None = None
    remaining_count: int | None = None
    remaining_money: float | None = None
    note: str = ""
    eta: float | None = None  # seconds left, estimated from the journal's history
    reused: bool = False
    late: bool = False  # running longer than 9 in 10 earlier tasks of this operation

    def text(self, lang: str = "en") -> str:
        zh = lang.startswith("zh")
        parts = [STAGE_TEXT.get(self.stage, Text(self.stage, self.stage)).get(lang)]
        if self.exact:
            parts[0] += f" {self.fraction * 100:.0f}%"
        elif self.status and self.stage in ("queued", "processing") and self.status.lower() != self.stage:
            word = STATUS_WORDS.get(self.status.lower())
            parts[0] += f" ({word.get(lang) if word else self.status})"
        parts.append(f"{self.elapsed:.0f} s" if not zh else f"{self.elapsed:.0f} 秒")
        if self.task_id:
            parts.append(("任务 " if zh else "task ") + self.task_id)
        if self.remaining_count is not None or self.remaining_money is not None:
            left = []
            if self.remaining_count is not None:
                left.append(f"{self.remaining_count}" + (" 次" if zh else " tasks"))
            if self.remaining_money is not None:
                left.append(f"¥{self.remaining_money}")
            parts.append(("剩余 " if zh else "left: ") + " / ".join(left))
        if self.stage in ("queued", "processing"):
            if self.late:
                parts.append("比平时久" if zh else "taking longer than usual")
            elif self.eta is not None:
                left = max(1, math.ceil(self.eta))
                parts.append(f"约剩 {left} 秒(估计)" if zh else f"~{left} s left (estimate)")
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


@dataclass
class Submission:
    op_id: str
    service: str
    task_id: str
    remaining_count: int | None = None
    remaining_money: float | None = None
    upload_note: Text | None = None


@dataclass
class TaskResult:
    """Everything a finished task produced, downloaded."""

    task_id: str
    op_id: str
    service: str
    images: list[bytes] = field(default_factory=list)
    grid: bytes | None = None
    image_1x: bytes | None = None
    vector: bytes | None = None  # EPS
    svgs: list[bytes] = field(default_factory=list)
    prompt: str = ""
    urls: dict[str, Any] = field(default_factory=dict)
    remaining_count: int | None = None
    remaining_money: float | None = None
    notes: list[Text] = field(default_factory=list)
    window: tuple[float, float] | None = None  # when it finished, bounded by two polls (`poll_plan`)


ProgressFn = Callable[[Progress], None]


@dataclass(frozen=True)
class Estimate:
    """How long this operation's tasks usually take (from the journal), turned into a progress curve.

    As ComfyUI core does with its server estimates: the bar reaches 90% at the median (p50) and 95% at the
    90th percentile, then creeps towards 99% without ever claiming to be done; the time left counts down
    to p50, then to p90, and after p90 the text says the task is taking longer than usual.
    """

    p50: float
    p90: float

    @classmethod
    def from_durations(cls, durations: list[float]) -> Estimate | None:
        ds = sorted(d for d in durations if d is not None and d >= 0)
        if not ds:
            return None
        p50 = max(0.5, _quantile(ds, 0.5))
        return cls(p50, max(p50 * 1.1, _quantile(ds, 0.9)))

    def fraction(self, t: float, start: float = 0.05) -> float:
        if t <= self.p50:
            return start + (0.90 - start) * max(0.0, t) / self.p50
        if t <= self.p90:
            return 0.90 + 0.05 * (t - self.p50) / (self.p90 - self.p50)
        return 0.95 + 0.04 * (1.0 - math.exp(-(t - self.p90) / self.p90))

    def left(self, t: float) -> float | None:
        """Seconds left (counting to p50, then to p90), or None once the task runs longer than usual."""
        if t >= self.p90:
            return None
        target = self.p50 if t < self.p50 - 0.5 else self.p90
        return max(target - t, 0.5)


def _quantile(sorted_values: list[float], q: float) -> float:
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


class Reporter:
    """Turns job state into Progress reports, at least once a second while waiting."""

    def __init__(self, on_progress: ProgressFn | None):
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.last_sent = self.started  # the first report comes from a real step, not a tick
        self.state = Progress("encoding", 0.0, False, "", 0.0)
        self.estimate: Estimate | None = None
        self.submitted_at: float | None = None

    def update(self, **changes: Any) -> None:
        for k, v in changes.items():
            setattr(self.state, k, v)
        self.emit()

    def tick(self) -> None:
        if time.monotonic() - self.last_sent >= PROGRESS_EVERY:
            self.emit()

    def emit(self) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        self.state.elapsed = now - self.started
        st = self.state
        if self.estimate is not None and self.submitted_at is not None and st.stage in ("queued", "processing"):
            t = now - self.submitted_at
            st.eta, st.late = self.estimate.left(t), t >= self.estimate.p90
            if not st.exact:
                st.fraction = self.estimate.fraction(t, STAGE_FRACTION["submitting"])
        self.last_sent = now
        try:
            self.on_progress(Progress(**vars(self.state)))
        except HDRedrawError:
            raise
        except Exception:  # a broken UI callback must not fail a paid task
            log.warning("progress callback failed", exc_info=True)
