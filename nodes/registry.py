"""Every node class of the pack and its display name, built from the operation specs on demand."""

from __future__ import annotations

from ..engine import specs
from . import aliases
from .factory import operation_nodes
from .fetch_task import FetchTask
from .render_svg import RenderSVG

LOCAL_NODES: dict[str, tuple[type, str]] = {  # nodes that are not one operation each
    "HDRedraw_FetchTask": (FetchTask, specs.get("check_task_status").title.en),
    "HDRedraw_RenderSVG": (RenderSVG, "Render SVG"),
}


def node_classes() -> dict[str, type]:
    classes = {**operation_nodes(), **{node_id: cls for node_id, (cls, _) in LOCAL_NODES.items()}}
    for node_id, cls in classes.items():  # search words in both languages (read by ComfyUI after 0.8.0)
        cls.SEARCH_ALIASES = aliases.for_node(node_id)
    return classes


def display_names() -> dict[str, str]:
    return {**{op.node_id: op.title.en for op in specs.paid_operations() if op.node_id},
            **{node_id: name for node_id, (_, name) in LOCAL_NODES.items()}}
