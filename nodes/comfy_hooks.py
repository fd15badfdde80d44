"""The few ComfyUI hooks the nodes use, each guarded so the pack imports (and is tested) without ComfyUI.

Progress bar, progress text on the node, the interrupt flag, and the output/user folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def _server() -> Any:
    try:
        from server import PromptServer
    except Exception:
        return None
    return getattr(PromptServer, "instance", None)


def send_text(node_id: str | None, text: str) -> None:
    """Show `text` on the node (only to the client that queued the prompt)."""
    server = _server()
    if server is None or node_id is None:
        return
    try:
        server.send_progress_text(text, node_id, getattr(server, "client_id", None))
    except Exception:  # the UI is best-effort; the task must go on
        pass


def send_event(event: str, data: dict[str, Any]) -> None:
    server = _server()
    if server is None:
        return
    try:
        server.send_sync(event, data, getattr(server, "client_id", None))
    except Exception:
        pass


class ProgressBar:
    """ComfyUI's progress bar for one node, or nothing outside ComfyUI."""

    def __init__(self, total: int, node_id: str | None):
        try:
            import comfy.utils

            self._bar = comfy.utils.ProgressBar(total, node_id=node_id)
        except Exception:
            self._bar = None
        self.total = total

    def set(self, value: float) -> None:
        """Move the bar.  ComfyUI's progress hook raises its interrupt exception here on Cancel: let it out."""
        if self._bar is not None:
            try:
                self._bar.update_absolute(int(round(value)), self.total)
            except Exception as exc:
                if is_interrupt(exc):
                    raise


def interrupted() -> bool:
    """True once the user pressed Cancel (reads ComfyUI's flag without clearing it)."""
    try:
        import comfy.model_management as mm
    except Exception:
        return False
    return bool(mm.processing_interrupted())


def is_interrupt(exc: BaseException) -> bool:
    """Is this ComfyUI's 'the user pressed Cancel' exception?"""
    try:
        import comfy.model_management as mm

        if isinstance(exc, mm.InterruptProcessingException):
            return True
    except Exception:
        pass
    return type(exc).__name__ == "InterruptProcessingException"


def interrupt_exception() -> BaseException:
    """A fresh interrupt exception, for when ComfyUI's flag was already consumed by its own hook."""
    try:
        import comfy.model_management as mm

        return mm.InterruptProcessingException()
    except Exception:
        from ..engine.errors import cancelled_error

        return cancelled_error(None)


def raise_if_interrupted() -> None:
    """Let ComfyUI end the run as 'interrupted' rather than as an error."""
    try:
        import comfy.model_management as mm
    except Exception:
        return
    mm.throw_exception_if_processing_interrupted()


def prompt_id() -> str | None:
    """The id of the queued prompt whose node is running now (the spend guard counts per prompt)."""
    try:
        from comfy_execution.utils import get_executing_context

        context = get_executing_context()
        if context is not None and getattr(context, "prompt_id", None):
            return str(context.prompt_id)
    except Exception:
        pass
    value = getattr(_server(), "last_prompt_id", None)
    return str(value) if value else None


def output_dir() -> Path:
    try:
        import folder_paths

        return Path(folder_paths.get_output_directory())
    except Exception:
        return Path(os.environ.get("HDREDRAW_OUTPUT_DIR") or "output").resolve()


_locale_cache: dict[str, Any] = {}


def comfy_locale() -> str | None:
    """ComfyUI's language setting (Comfy.Locale), or None when unset; re-read only when the file changes."""
    folder = user_dir()
    if folder is None:
        return None
    path = folder / "default" / "comfy.settings.json"
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return None
    if _locale_cache.get("stamp") != (path, stamp):
        import json

        try:
            locale = str(json.loads(path.read_text(encoding="utf-8")).get("Comfy.Locale") or "") or None
        except (OSError, ValueError, AttributeError):
            locale = None
        _locale_cache.update(stamp=(path, stamp), locale=locale)
    return _locale_cache.get("locale")


def ui_language() -> str:
    """'zh' or 'en' for everything the pack shows: see `engine.text.language` (this module's
    `comfy_locale` is its resolver inside ComfyUI)."""
    from ..engine.text import language

    return language()


def user_dir() -> Path | None:
    try:
        import folder_paths

        return Path(folder_paths.get_user_directory())
    except Exception:
        return None
