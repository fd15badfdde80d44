"""ComfyUI node classes, generated from the operation specs (plus Fetch Task and Render SVG)."""

from __future__ import annotations

from ..engine import config, specs, text
from . import comfy_hooks as hooks
from . import routes
from .factory import operation_nodes
from .fetch_task import FetchTask
from .render_svg import RenderSVG

_user = hooks.user_dir()
if _user is not None:
    config.set_default_dir(_user / "hdredraw")

text.set_resolver(hooks.comfy_locale)  # one language for node text, engine notes and errors
routes.register()

NODE_CLASS_MAPPINGS: dict[str, type] = {
    **operation_nodes(),
    "HDRedraw_FetchTask": FetchTask,
    "HDRedraw_RenderSVG": RenderSVG,
}

NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {
    **{op.node_id: op.title.en for op in specs.OPERATIONS.values() if op.node_id},
    "HDRedraw_RenderSVG": "Render SVG",
}
