"""The pack's HTTP routes on ComfyUI's server, for the web extension.

Keys are write-only: POST /hdredraw/settings stores them in the pack's owner-only config file; no route
ever returns them (GET /hdredraw/status says only whether each is set, a masked hint, and its source).
"""

from __future__ import annotations

import json
from typing import Any

from ..engine import config
from ..engine.errors import HDRedrawError


def status_payload() -> dict[str, Any]:
    """Everything the UI may show: settings (secrets masked), the last balance seen, where config lives."""
    from ..engine import progress

    payload: dict[str, Any] = {
        "schema": [{"name": s.name, "env": s.env, "secret": s.secret, "type": s.cast.__name__,
                    "default": s.default, "help": {"en": s.help_en, "zh": s.help_zh}} for s in config.SETTINGS],
        "balance": dict(progress.last_balance) or _balance_from_journal(),
        "config_path": str(config.config_path()),
    }
    try:
        payload["settings"] = config.status(config.load())
    except HDRedrawError as exc:  # a bad value or a corrupt file: say so, and still let the UI fix it
        payload.update(settings={}, error=exc.en, error_zh=exc.zh)
    return payload


def _balance_from_journal() -> dict[str, Any]:
    """After a restart nothing is in memory yet: the newest balance the journal saw."""
    from ..engine.journal import open_journal

    try:
        journal = open_journal(config.load())
        try:
            entries = journal.recent(50)
        finally:
            journal.close()
        for e in entries:
            if e.service == "hdredraw" and (e.remaining_count is not None or e.remaining_money is not None):
                return {"remaining_count": e.remaining_count, "remaining_money": e.remaining_money,
                        "at": e.finished_at or e.submitted_at or e.created_at}
    except Exception:  # the badge is optional; never break the status route
        return {}
    return {}


def save_payload(body: Any) -> tuple[int, dict[str, Any]]:
    """Apply a settings update; returns (HTTP status, JSON body).  Values are never echoed back."""
    if not isinstance(body, dict):
        return 400, {"error": "expected a JSON object of settings"}
    try:
        config.save({str(k): v for k, v in body.items()})
    except HDRedrawError as exc:
        return 400, {"error": exc.en, "error_zh": exc.zh}
    return 200, status_payload()


def tasks_payload(limit: int = 20) -> dict[str, Any]:
    from . import runner

    try:
        journal = runner.get_client().journal
    except HDRedrawError as exc:
        return {"tasks": [], "error": exc.en, "error_zh": exc.zh}
    entries = journal.recent(max(1, min(limit, 200))) if journal is not None else []
    return {"tasks": [{"op": e.op_id, "service": e.service, "task_id": e.task_id, "status": e.status,
                       "created_at": e.created_at, "finished_at": e.finished_at,
                       "remaining_count": e.remaining_count, "remaining_money": e.remaining_money}
                      for e in entries]}


def register() -> bool:
    """Add the routes to ComfyUI's server; False outside ComfyUI."""
    try:
        from aiohttp import web
        from server import PromptServer
    except Exception:
        return False
    instance = getattr(PromptServer, "instance", None)
    if instance is None or not hasattr(instance, "routes"):
        return False
    routes = instance.routes

    @routes.get("/hdredraw/status")
    async def get_status(request: Any) -> Any:
        return web.json_response(status_payload())

    @routes.post("/hdredraw/settings")
    async def post_settings(request: Any) -> Any:
        try:
            body = await request.json()
        except (ValueError, json.JSONDecodeError):
            body = None
        code, payload = save_payload(body)
        return web.json_response(payload, status=code)

    @routes.get("/hdredraw/tasks")
    async def get_tasks(request: Any) -> Any:
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            limit = 20
        return web.json_response(tasks_payload(limit))

    return True
