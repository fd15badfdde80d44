"""Runs a node's batch on the engine while keeping ComfyUI's UI alive.

The batch runs on a worker thread; the node's own thread wakes every 0.25 s to move the progress bar,
refresh the status text (status, elapsed time, task id, remaining count and money) and notice Cancel, so
ComfyUI's per-node hooks are only ever called from the thread that executes the node.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..engine import config, jobs, progress
from ..engine.errors import HDRedrawError
from ..engine.jobs import Progress, TaskResult
from ..engine.journal import open_journal
from ..engine.operation import Operation
from ..engine.spend import SpendGuard
from . import comfy_hooks as hooks
from .zh import fullwidth

_client_lock = threading.Lock()
_guards: OrderedDict[str, SpendGuard] = OrderedDict()
_interrupted: OrderedDict[str, bool] = OrderedDict()  # prompts whose Cancel one of our nodes has seen
KEEP_GUARDS = 64
UI_EVERY = 0.25  # seconds between UI refreshes (and Cancel checks) while a node waits  # prompts remembered; a prompt's nodes all run long before 64 newer prompts start
_client: tuple[tuple, jobs.Client] | None = None
BAR_TOTAL = 1000


def get_client() -> jobs.Client:
    """One shared client; rebuilt when the settings (environment or config file) change."""
    global _client
    settings = config.load()
    signature = tuple(sorted((k, str(v)) for k, v in vars(settings).items() if k != "sources")) + (
        str(config.data_dir()),)
    with _client_lock:
        if _client is None or _client[0] != signature:
            if _client is not None:
                _client[1].close()
            _client = (signature, jobs.Client(settings, journal=open_journal(settings, config.data_dir())))
        return _client[1]


def prompt_guard(cap: int) -> SpendGuard | None:
    """The spend guard shared by every pack node of the running prompt (list items, several nodes)."""
    pid = hooks.prompt_id()
    if pid is None:
        return None
    with _client_lock:
        guard = _guards.get(pid)
        if guard is None:
            guard = _guards[pid] = SpendGuard(cap)
            while len(_guards) > KEEP_GUARDS:
                _guards.popitem(last=False)
        return guard


class BatchUI:
    """Collects progress from worker threads; shows it from the node's thread."""

    def __init__(self, node_id: str | None, count: int):
        self.node_id = node_id
        self.count = count
        self.states: list[Progress | None] = [None] * count
        self.lock = threading.Lock()
        self.bar = hooks.ProgressBar(BAR_TOTAL, node_id)
        self.lang = hooks.ui_language()
        self.notes: list[str] = []
        self.last_text = ""

    def on_progress(self, index: int, progress: Progress) -> None:
        with self.lock:
            self.states[index] = progress

    def note(self, text: str) -> None:
        self.notes.append(text)
        self.flush()

    def flush(self) -> None:
        with self.lock:
            states = list(self.states)
        fractions = [s.fraction if s else 0.0 for s in states]
        self.bar.set(BAR_TOTAL * sum(fractions) / max(1, len(fractions)))
        text = self.text(states)
        if text != self.last_text:
            self.last_text = text
            hooks.send_text(self.node_id, text)
            hooks.send_event("hdredraw.status", {
                "node": self.node_id, "text": text,
                "tasks": [{"task_id": s.task_id, "stage": s.stage, "elapsed": round(s.elapsed, 1),
                           "reused": s.reused} for s in states if s is not None],
                "balance": dict(progress.last_balance)})

    def text(self, states: list[Progress | None]) -> str:
        zh = self.lang == "zh"
        if self.count == 1:
            lines = [states[0].text(self.lang) if states[0] else ("准备中" if zh else "Starting")]
        else:
            done = sum(1 for s in states if s and s.stage == "done")
            lines = [f"{done}/{self.count} " + ("完成" if zh else "done")]
            for i, s in enumerate(states):
                lines.append(f"#{i + 1} " + (s.text(self.lang) if s else ("等待" if zh else "waiting")))
        text = "\n".join(lines + self.notes)
        return fullwidth(text) if zh else text  # engine notes carry ASCII punctuation in Chinese


async def run_batch(op: Operation, images: list[Any], values: dict[str, Any], node_id: str | None,
                    run: Callable[..., list[TaskResult | HDRedrawError]] | None = None,
                    variation: int = 0) -> tuple[list[TaskResult], BatchUI]:
    """Run one task per image on the engine's threads, in input order, while this coroutine keeps the node's
    UI alive: ComfyUI goes on with other nodes meanwhile, so several pack nodes of a graph wait together.

    Cancel is seen from ComfyUI's flag, from its progress hook (which raises once and clears the flag), and
    from a sibling node of the same prompt that saw it first: every pack node of that prompt stops.
    """
    client = get_client()
    ui = BatchUI(node_id, len(images))
    prompt = hooks.prompt_id()
    stop = threading.Event()
    caught: list[BaseException] = []

    def cancelled() -> bool:
        if not stop.is_set() and (hooks.interrupted() or prompt in _interrupted):
            stop.set()
        return stop.is_set()

    def flush() -> None:
        try:
            ui.flush()
        except Exception as exc:
            if not hooks.is_interrupt(exc):
                raise
            caught.append(exc)
            stop.set()
            _note_interrupted(prompt)
        cancelled()

    kwargs: dict[str, Any] = {"cancel": cancelled, "on_progress": ui.on_progress}
    if run is None:
        run = client.run_many
        kwargs.update(variation=variation, guard=prompt_guard(client.settings.max_new_tasks))
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hdredraw-node")
    try:
        future = asyncio.wrap_future(pool.submit(run, op, images, values, **kwargs))
        while not future.done():
            await asyncio.wait({future}, timeout=UI_EVERY)
            flush()
        outcomes = future.result()
    except asyncio.CancelledError:  # ComfyUI ended the prompt (another node failed or was interrupted)
        stop.set()
        raise
    finally:
        pool.shutdown(wait=False)
    flush()
    if stop.is_set():
        _note_interrupted(prompt)
        if caught:
            raise caught[0]
        hooks.raise_if_interrupted()  # raises (and clears ComfyUI's flag) when it is still set
        raise hooks.interrupt_exception()
    failures = [(i, o) for i, o in enumerate(outcomes) if isinstance(o, HDRedrawError)]
    if failures:
        raise _batch_error(failures, outcomes)
    return [o for o in outcomes if isinstance(o, TaskResult)], ui


def _note_interrupted(prompt: str | None) -> None:
    if prompt is None:
        return
    with _client_lock:
        _interrupted[prompt] = True
        while len(_interrupted) > KEEP_GUARDS:
            _interrupted.popitem(last=False)


def _batch_error(failures: list[tuple[int, HDRedrawError]], outcomes: list) -> HDRedrawError:
    index, first = failures[0]
    if len(outcomes) == 1:
        return first
    finished = [o.task_id for o in outcomes if isinstance(o, TaskResult)]
    en = f"Image {index + 1} of {len(outcomes)} failed: {first.en}"
    zh = f"第 {index + 1}/{len(outcomes)} 张图片失败:{first.zh}"
    if len(failures) > 1:
        en += f" ({len(failures)} images failed in all.)"
        zh += f"(共 {len(failures)} 张失败。)"
    if finished:
        en += f" The other images finished (task ids {', '.join(finished)}); Fetch Task returns them at no cost."
        zh += f" 其余图片已完成(任务ID {', '.join(finished)}),可用“获取任务结果”免费取回。"
    return type(first)(en, zh, task_id=first.task_id, upstream=first.upstream, field=first.field)
