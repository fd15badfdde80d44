"""Every node's display name in both languages: operation nodes from the specs, the local nodes here."""

from __future__ import annotations

from ..engine import specs
from ..engine.text import Text

DISPLAY = {"HDRedraw_RenderSVG": Text("Render SVG", "渲染 SVG")}
LOCAL_NODES = ("HDRedraw_RenderSVG",)  # run on this machine: no service, no task, no charge


def title(node_id: str) -> Text:
    """The node's display name (KeyError for a node the pack does not have)."""
    for op in specs.OPERATIONS.values():
        if op.node_id == node_id:
            return op.title
    return DISPLAY[node_id]
