"""Every node class of the pack and its display name, built from the operation specs on demand."""

from __future__ import annotations

from ..engine import specs
from . import aliases
from .factory import operation_nodes
from .fetch_task import FetchTask
from .render_svg import RenderSVG
from .titles import title

OTHER_NODES: dict[str, type] = {  # nodes that are not one paid operation each
    "HDRedraw_FetchTask": FetchTask,
    "HDRedraw_RenderSVG": RenderSVG,
}


def node_classes() -> dict[str, type]:
    classes = {**operation_nodes(), **OTHER_NODES}
    for node_id, cls in classes.items():  # search words in both languages (read by ComfyUI after 0.8.0)
        cls.SEARCH_ALIASES = aliases.for_node(node_id)
    return classes


def display_names() -> dict[str, str]:
    return {**{op.node_id: op.title.en for op in specs.paid_operations() if op.node_id},
            **{node_id: title(node_id).en for node_id in OTHER_NODES}}
