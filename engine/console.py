"""What the command line shows while work runs: a live display on a terminal, plain lines elsewhere.

On a terminal, `rich` draws an overall bar with counts and an estimate of the time left, and one line per
running task; it is imported only then, so neither the nodes nor a piped command pay for it.  When the
output is not a terminal (a log file, CI, a pipe), each change of a task's stage is one plain line, so the
log reads top to bottom.  Either way, lines printed with `line` stay above the live part.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

from .progress import Progress
from .text import language

MAX_ROWS = 8  # running tasks drawn at once; the overall bar counts the rest
ACTIVE = ("submitting", "queued", "processing", "downloading")


class Display:
    """Plain lines: one per change of a task's stage (and every `line`), for logs and pipes."""

    def __init__(self, labels: Sequence[str], stream: IO[str] | None = None, title: str = ""):
        self.labels = list(labels)
        self.stream = stream or sys.stderr
        self.title = title
        self.lang = language()
        self.lock = threading.Lock()
        self._last: dict[int, tuple[str, str | None]] = {}

    def progress(self, index: int, p: Progress) -> None:
        if p.stage == "done":  # the caller reports the outcome itself, with the files written
            return
        key = (p.stage, p.task_id)
        with self.lock:
            if self._last.get(index) == key:
                return
            self._last[index] = key
        self.line(f"{self.labels[index]}: {p.text(self.lang)}")

    def __call__(self, index: int, p: Progress) -> None:
        self.progress(index, p)

    def finished(self, index: int, summary: str) -> None:
        """Task `index` is over (done, reused, failed ...)."""

    def line(self, text: str) -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """Stop drawing (the live display leaves its last state on screen)."""

    def __enter__(self) -> Display:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LiveDisplay(Display):
    """An overall bar with counts and time left, plus a line per running task, redrawn in place (rich)."""

    def __init__(self, labels: Sequence[str], stream: IO[str] | None = None, title: str = "",
                 eta: Callable[[], float | None] | None = None):
        super().__init__(labels, stream, title)
        from rich.console import Console
        from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bars

        self.eta = eta
        self.console = Console(file=self.stream, highlight=False, soft_wrap=False)
        self.bars = Bars(TextColumn("{task.description}", markup=False), BarColumn(bar_width=24),
                         TaskProgressColumn(), TimeElapsedColumn(), TextColumn("{task.fields[info]}", markup=False),
                         console=self.console, refresh_per_second=4, transient=False)
        self.total = len(self.labels)
        self.done = 0
        self.counts: dict[str, int] = {}
        self.rows: dict[int, Any] = {}
        self.overall = self.bars.add_task(self._title(), total=max(1, self.total), info="") if self.total > 1 else None
        self.bars.start()
        self._closed = False

    def _title(self) -> str:
        return f"{self.title} {self.done}/{self.total}".strip()

    def progress(self, index: int, p: Progress) -> None:
        with self.lock:
            if self._closed:
                return
            row = self.rows.get(index)
            text = p.text(self.lang)
            if p.stage == "done":
                if row is not None:
                    self.bars.remove_task(self.rows.pop(index))
                return
            show = p.stage in ACTIVE and (p.task_id is not None or p.stage == "submitting" or self.total == 1)
            if row is None and show and len(self.rows) < MAX_ROWS:
                self.rows[index] = self.bars.add_task(self.labels[index][-40:], total=1.0, completed=p.fraction,
                                                      info=text)
            elif row is not None:
                self.bars.update(row, completed=p.fraction, info=text)
            self._refresh_overall()

    def finished(self, index: int, summary: str) -> None:
        with self.lock:
            if self._closed:
                return
            if index in self.rows:
                self.bars.remove_task(self.rows.pop(index))
            self.done += 1
            self.counts[summary] = self.counts.get(summary, 0) + 1
            if self.overall is not None:
                self.bars.update(self.overall, completed=self.done, description=self._title())
            self._refresh_overall()

    def _refresh_overall(self) -> None:
        if self.overall is None:
            return
        left = self.eta() if self.eta is not None else None
        bits = [f"{k} {v}" for k, v in sorted(self.counts.items())]
        if left is not None:
            bits.append(_left(left, self.lang))
        self.bars.update(self.overall, info=" · ".join(bits))

    def line(self, text: str) -> None:
        with self.lock:
            if self._closed:
                self.stream.write(text + "\n")
                self.stream.flush()
            else:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            for row in list(self.rows.values()):
                self.bars.remove_task(row)
            self.rows.clear()
        self.bars.stop()


def _left(seconds: float, lang: str) -> str:
    seconds = max(1, int(round(seconds)))
    if seconds >= 90:
        amount = f"{seconds / 60:.0f} min" if lang != "zh" else f"{seconds / 60:.0f} 分钟"
    else:
        amount = f"{seconds} s" if lang != "zh" else f"{seconds} 秒"
    return f"约剩 {amount}(估计)" if lang == "zh" else f"~{amount} left (estimate)"


def make_display(labels: Sequence[str], stream: IO[str] | None = None, title: str = "",
                 eta: Callable[[], float | None] | None = None, live: bool | None = None) -> Display:
    """The live display on a terminal (unless `live` is False), plain lines otherwise."""
    stream = stream or sys.stderr
    if live is None:
        live = is_terminal(stream)
    if live:
        try:
            return LiveDisplay(labels, stream, title, eta)
        except ImportError:  # rich missing (an install without the pack's requirements): plain lines
            pass
    return Display(labels, stream, title)


def is_terminal(stream: IO[str]) -> bool:
    """Whether a stream is an interactive terminal (False for files, pipes and closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class TerminalProgress(Display):
    """A display for a few labelled tasks (demo steps, fetch): live on a terminal, plain lines otherwise."""

    def __new__(cls, labels: Sequence[str], stream: IO[str] | None = None) -> Display:  # type: ignore[misc]
        return make_display(labels, stream)


def elapsed_text(seconds: float, lang: str | None = None) -> str:
    """'4.2 s', '3 min 12 s', '1 h 02 min' (in the user's language)."""
    zh = (lang or language()) == "zh"
    if seconds < 60:
        return f"{seconds:.1f} 秒" if zh else f"{seconds:.1f} s"
    if seconds < 3600:
        m, s = divmod(int(seconds), 60)
        return f"{m} 分 {s} 秒" if zh else f"{m} min {s} s"
    h, m = divmod(int(seconds) // 60, 60)
    return f"{h} 小时 {m:02d} 分" if zh else f"{h} h {m:02d} min"

