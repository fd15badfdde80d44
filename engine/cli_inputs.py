"""What `hdredraw run` works on: the input files (folders, globs, -r), one item per input, the worker threads."""

from __future__ import annotations

import glob
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from . import codecs, errors, result_files
from .errors import HDRedrawError
from .text import Text

TICK = 0.2  # how often a waiting thread looks up (Ctrl-C, progress)

# What became of an input.
DONE_NEW, RESUMED, REUSED, FAILED_, UNCERTAIN_, PENDING_, NOT_STARTED = (
    "done", "resumed", "reused", "failed", "uncertain", "pending", "not started")


@dataclass
class Item:
    """One input file, its plan and what became of it."""

    index: int
    path: Path
    label: str
    stem: PurePath
    upload: codecs.Encoded | None = None
    upload_sha256: str = ""
    fingerprint: str = ""
    notes: list[Text] = field(default_factory=list)
    plan: str = "new"  # new / reuse / resume / uncertain / copy
    first: int = -1  # the item whose task this one shares (identical image and settings)
    known_task: str | None = None
    # outcome
    status: str = NOT_STARTED
    task_id: str | None = None
    error: HDRedrawError | None = None
    written: list[result_files.Written] = field(default_factory=list)
    result_notes: list[Text] = field(default_factory=list)
    seconds: float = 0.0
    paid: bool = False  # a new submission was sent for it in this run
    submitting: bool = False
    reused_seen: bool = False


# --------------------------------------------------------------------------- inputs

def image_extensions() -> frozenset[str]:
    """File extensions of every format Pillow can open (what a folder is searched for)."""
    from PIL import Image

    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def collect_inputs(raw: Sequence[str], recursive: bool = False, exclude: Path | None = None) -> list[Path]:
    """Files from the arguments: files as given, folders searched for images (sub-folders with
    `recursive`), glob patterns expanded here as well (Windows shells leave them to the program).  The output
    folder and hidden files are skipped; each file counts once."""
    exts = image_extensions()
    skip = exclude.resolve() if exclude is not None else None
    found: list[Path] = []
    missing: list[str] = []
    empty: list[str] = []
    for arg in raw:
        p = Path(arg)
        if p.is_dir():
            files = _walk(p, recursive, exts, skip)
            (found.extend(files) if files else empty.append(arg))
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(arg):
            matches = [Path(m) for m in sorted(glob.glob(arg, recursive=recursive))]
            files = [m for m in matches if m.is_file() and m.suffix.lower() in exts and not _hidden(m)]
            for m in matches:
                if m.is_dir():
                    files.extend(_walk(m, recursive, exts, skip))
            (found.extend(files) if files else empty.append(arg))
        else:
            missing.append(arg)
    if missing:
        names = ", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")
        raise errors.ValidationError(f"Input not found: {names}. Nothing was sent.",
                                     f"找不到输入:{names}。未发送请求。")
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in found:
        key = p.resolve()
        if key in seen or (skip is not None and _inside(key, skip)):
            continue
        seen.add(key)
        unique.append(p)
    if not unique:
        where = ", ".join(empty) if empty else " ".join(raw)
        raise errors.ValidationError(
            f"No image files in {where}" + ("" if recursive else " (add -r to search sub-folders)") + ".",
            f"{where} 中没有图像文件" + ("" if recursive else "(加 -r 可搜索子文件夹)") + "。")
    return unique


def _walk(folder: Path, recursive: bool, exts: frozenset[str], skip: Path | None) -> list[Path]:
    out: list[Path] = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and not (skip is not None and _inside((here / d).resolve(), skip))) if recursive else []
        out.extend(here / f for f in sorted(files) if not f.startswith(".") and Path(f).suffix.lower() in exts)
    return out


def _hidden(p: Path) -> bool:
    return p.name.startswith(".")


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short names to show: the path below the inputs' common folder."""
    try:
        base = Path(os.path.commonpath([str(p.resolve().parent) for p in paths]))
    except ValueError:
        return [str(p) for p in paths]
    return [p.resolve().relative_to(base).as_posix() for p in paths]


# --------------------------------------------------------------------------- threads

class Workers:
    """Daemon threads running `job(i)` for i in 0..count-1 until all are done or the run is cancelled.

    Daemon threads, not an executor: an executor's threads are joined at exit, which is what kept Ctrl-C
    waiting for every task.  Waiting is on an Event, not `Thread.join`: a join that Ctrl-C interrupts can
    mark a running thread as stopped (CPython bpo-45274), and then nothing would wait for it.
    """

    def __init__(self, job: Callable[[int], None], count: int, workers: int, cancel: threading.Event, name: str):
        self._lock = threading.Lock()
        self._queue = iter(range(count))
        self._job = job
        self._cancel = cancel
        n = max(1, min(workers, count)) if count else 0
        self._alive = n
        self.finished = threading.Event()
        if n == 0:
            self.finished.set()
        for k in range(n):
            threading.Thread(target=self._loop, name=f"{name}-{k}", daemon=True).start()

    def _loop(self) -> None:
        try:
            while not self._cancel.is_set():
                with self._lock:
                    i = next(self._queue, None)
                if i is None:
                    return
                self._job(i)
        finally:
            with self._lock:
                self._alive -= 1
                if self._alive == 0:
                    self.finished.set()

    def wait(self) -> None:
        """Wait in short slices, so Ctrl-C reaches the main thread at once (on Windows too)."""
        while not self.finished.wait(TICK):
            pass
