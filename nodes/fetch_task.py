"""Fetch Task: finished tasks' results again, by task id or from the journal (no new task, no charge)."""

from __future__ import annotations

import re
from typing import Any

from ..engine import errors, specs
from ..engine.text import Text
from .factory import both, with_task_ids
from .output_kinds import OUT

OP = specs.get("check_task_status")
FETCH_OUTPUTS = (*OP.outputs, "journal")
SERVICES = {name: service for service, name in specs.SERVICE_NAMES.items()}


def parse_task_ids(text: str) -> list[str]:
    ids = [t for t in re.split(r"[\s,;]+", text or "") if t]
    if not ids:
        raise errors.ValidationError("Enter at least one task id.", "请至少输入一个任务ID。", field="task_ids")
    return list(dict.fromkeys(ids))


class FetchTask:
    """Returns finished tasks' results again (no new task, no charge)."""

    OP = OP
    DESCRIPTION = both(OP.description)
    CATEGORY = OP.category
    FUNCTION = "run"
    run = with_task_ids(FETCH_OUTPUTS)
    RETURN_TYPES = tuple(OUT[n].type for n in FETCH_OUTPUTS)
    RETURN_NAMES = FETCH_OUTPUTS
    OUTPUT_TOOLTIPS = tuple(both(OUT[n].tooltip) for n in FETCH_OUTPUTS)

    @classmethod
    def INPUT_TYPES(cls) -> dict[str, Any]:
        return {
            "required": {
                "task_id": ("STRING", {"default": "", "multiline": True, "tooltip": both(Text(
                    "One or more task ids (one per line, or separated by commas).",
                    "一个或多个任务ID(每行一个,或用逗号分隔)。"))}),
                "service": (list(SERVICES), {"default": "HD Redraw", "tooltip": both(Text(
                    "Which service the tasks belong to.", "任务所属的服务。"))}),
                "recent": ("INT", {"default": 0, "min": 0, "max": 64, "step": 1, "tooltip": both(Text(
                    "0: fetch the task ids above. N > 0: fetch the N most recent finished tasks of this service "
                    "from the journal instead.",
                    "0:获取上面填写的任务ID。N > 0:改为获取任务记录中该服务最近完成的 N 个任务。"))}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    async def execute(self, task_id: str = "", service: str = "HD Redraw", recent: int = 0,
                      unique_id: str | None = None) -> tuple:
        from ..engine import journal as journal_mod
        from . import runner
        from .output_builders import build_outputs

        svc = SERVICES.get(service, service)
        journal = runner.get_client().journal
        if recent > 0:
            done = [e for e in journal.recent(500, journal_mod.DONE) if e.service == svc and e.task_id]
            ids = [e.task_id for e in done[:recent]]
            if not ids:
                raise errors.ValidationError("The journal has no finished tasks of this service yet.",
                                             "任务记录中还没有该服务已完成的任务。", field="recent")
        else:
            ids = parse_task_ids(task_id)

        def fetch_many(op, items, values, cancel, on_progress) -> list:
            return runner.get_client().fetch_many(items, svc, cancel=cancel, on_progress=on_progress)

        results, ui = await runner.run_batch(self.OP, ids, {}, unique_id, run=fetch_many)
        values = build_outputs(self.OP.outputs, results, ui, [])
        return (*values, journal_mod.describe(journal.recent(20)))
