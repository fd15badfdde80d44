"""ComfyUI node classes, generated from the operation specs (plus Fetch Task and Render SVG)."""

from __future__ import annotations

from ..engine import config, text
from . import comfy_hooks as hooks
from . import routes
from .registry import display_names, node_classes

_user = hooks.user_dir()
if _user is not None:
    config.set_default_dir(_user / "hdredraw")

text.set_resolver(hooks.comfy_locale)  # one language for node text, engine notes and errors
routes.register()

NODE_CLASS_MAPPINGS: dict[str, type] = node_classes()
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = display_names()
