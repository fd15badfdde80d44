"""Live progress on a terminal: one line per image, redrawn in place, or plain lines when not a terminal."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from .progress import Progress
from .text import language


class TerminalProgress:
    """One line per image, redrawn in place on a terminal, plain lines otherwise."""

    def __init__(self, labels: Sequence[str], stream=None):
        self.labels = list(labels)
        self.lines = [""] * len(labels)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.lock = threading.Lock()
        self.drawn = False
        self.lang = language()
        self.last_plain: dict[int, str] = {}

    def __call__(self, index: int, p: Progress) -> None:
        text = f"{self.labels[index]}: {p.text(self.lang)}"
        with self.lock:
            self.lines[index] = text
            if self.tty:
                if self.drawn:
                    self.stream.write(f"\x1b[{len(self.lines)}F")
                for line in self.lines:
                    self.stream.write("\x1b[2K" + line[:200] + "\n")
                self.drawn = True
            elif self.last_plain.get(index) != p.stage:
                self.last_plain[index] = p.stage
                self.stream.write(text + "\n")
            self.stream.flush()
