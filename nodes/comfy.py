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
        if self._bar is not None:
            try:
                self._bar.update_absolute(int(round(value)), self.total)
            except Exception:
                pass


def interrupted() -> bool:
    """True once the user pressed Cancel (reads ComfyUI's flag without clearing it)."""
    try:
        import comfy.model_management as mm
    except Exception:
        return False
    return bool(mm.processing_interrupted())


def raise_if_interrupted() -> None:
    """Let ComfyUI end the run as 'interrupted' rather than as an error."""
    try:
        import comfy.model_management as mm
    except Exception:
        return
    mm.throw_exception_if_processing_interrupted()


def output_dir() -> Path:
    try:
        import folder_paths

        return Path(folder_paths.get_output_directory())
    except Exception:
        return Path(os.environ.get("HDREDRAW_OUTPUT_DIR") or "output").resolve()


def user_dir() -> Path | None:
    try:
        import folder_paths

        return Path(folder_paths.get_user_directory())
    except Exception:
        return None
