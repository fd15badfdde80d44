"""ComfyUI-HDRedraw: HD Redraw and HiDream img2svg as ComfyUI nodes.

ComfyUI imports this file from whatever folder the pack was installed into.
The node classes (which need torch) are built on first access, so the same
package also serves the `hdredraw` command line without loading torch.
"""

WEB_DIRECTORY = "./web"

__version__ = "0.1.0"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]


def __getattr__(name: str):
    if name in ("NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"):
        from . import nodes

        return getattr(nodes, name)
    raise AttributeError(name)
