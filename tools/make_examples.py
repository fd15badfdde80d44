"""Generate the example workflows in example_workflows/ from the node definitions.

Every workflow is built from the nodes' own INPUT_TYPES (and, for ComfyUI's core nodes, from
tests/data/core_nodes.json), so widget values always follow the nodes' order and defaults; a value set
on purpose is checked against the widget's type and range.  Each workflow gets a same-name .jpg thumbnail
(a diagram of the graph) because ComfyUI's template browser only shows .jpg thumbnails.

    python tools/make_examples.py            # (re)write example_workflows/*.json and *.jpg
    python tools/make_examples.py --check    # exit 1 if a committed workflow differs from the generated one

The files use the front end's UI workflow format (version 0.4), which ComfyUI 0.3.64 serves from
custom_nodes/<pack>/example_workflows/.  Nothing here is, or may become, a credential.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "example_workflows"
CORE_NODES = ROOT / "tests" / "data" / "core_nodes.json"

WIDGET_TYPES = ("INT", "FLOAT", "BOOLEAN", "STRING", "COMBO")
EXAMPLE_IMAGE = "example.png"  # ships in ComfyUI's input folder
UUID_NAMESPACE = uuid.UUID("6f1c7a52-3d0e-4a44-9a8e-0b7d2f5c1e11")
CREDENTIAL_WORDS = re.compile(r"key|token|secret|password|auth|bearer", re.I)

# Layout (canvas units).  TITLE is the title bar, drawn above a node's pos in both renderers.
COL_GAP, ROW_GAP, MARGIN, TITLE = 70, 40, 40, 30
NOTE_COLOR, NOTE_BGCOLOR = "#432", "#653"


# --------------------------------------------------------------------------- node definitions

@dataclass(frozen=True)
class Widget:
    name: str
    type: str  # INT, FLOAT, BOOLEAN, STRING or COMBO
    options: dict[str, Any]
    choices: tuple[str, ...] = ()

    def default(self) -> Any:
        if self.type == "COMBO":
            return self.options.get("default", self.choices[0] if self.choices else "")
        if "default" in self.options:
            return self.options["default"]
        return {"INT": 0, "FLOAT": 0.0, "BOOLEAN": False, "STRING": ""}[self.type]

    def check(self, value: Any) -> None:
        """Raise ValueError unless `value` is one this widget accepts."""
        t = self.type
        ok = {
            "INT": isinstance(value, int) and not isinstance(value, bool),
            "FLOAT": isinstance(value, (int, float)) and not isinstance(value, bool),
            "BOOLEAN": isinstance(value, bool),
            "STRING": isinstance(value, str),
            "COMBO": value in self.choices,
        }[t]
        if not ok:
            raise ValueError(f"{self.name}: {value!r} is not a valid {t}")
        if t in ("INT", "FLOAT"):
            lo, hi = self.options.get("min"), self.options.get("max")
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise ValueError(f"{self.name}: {value!r} is outside {lo}..{hi}")


@dataclass(frozen=True)
class Socket:
    name: str
    type: str
    optional: bool


@dataclass(frozen=True)
class NodeDef:
    type: str
    display_name: str
    sockets: tuple[Socket, ...]
    widgets: tuple[Widget, ...]
    outputs: tuple[tuple[str, str], ...]  # (name, type)
    output_node: bool = False
    virtual: bool = False

    def widget(self, name: str) -> Widget:
        for w in self.widgets:
            if w.name == name:
                return w
        raise KeyError(f"{self.type} has no widget {name!r}")


def parse_definition(node_type: str, display_name: str, inputs: dict[str, Any], outputs: list[str],
                     output_names: list[str], output_node: bool = False, virtual: bool = False) -> NodeDef:
    """Split an INPUT_TYPES-style dict into sockets and widgets, the way the front end does."""
    sockets: list[Socket] = []
    widgets: list[Widget] = []
    for section in ("required", "optional"):
        for name, spec in (inputs.get(section) or {}).items():
            kind = spec[0]
            opts = dict(spec[1]) if len(spec) > 1 else {}
            if isinstance(kind, (list, tuple)):
                widgets.append(Widget(name, "COMBO", opts, tuple(kind)))
            elif kind in WIDGET_TYPES and not opts.get("forceInput"):
                widgets.append(Widget(name, kind, opts))
            else:
                sockets.append(Socket(name, kind, section == "optional"))
    return NodeDef(node_type, display_name, tuple(sockets), tuple(widgets),
                   tuple(zip(output_names, outputs, strict=True)), output_node, virtual)


def load_pack() -> Any:
    """The checkout's `hdredraw.nodes` (importing the checkout as `hdredraw` if nothing else has)."""
    if "hdredraw" not in sys.modules:
        spec = importlib.util.spec_from_file_location("hdredraw", ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["hdredraw"] = module
        spec.loader.exec_module(module)
    from hdredraw import nodes

    return nodes


def definitions() -> dict[str, NodeDef]:
    nodes = load_pack()
    defs: dict[str, NodeDef] = {}
    for node_type, cls in nodes.NODE_CLASS_MAPPINGS.items():
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        defs[node_type] = parse_definition(
            node_type, nodes.NODE_DISPLAY_NAME_MAPPINGS.get(node_type, node_type), cls.INPUT_TYPES(),
            list(cls.RETURN_TYPES), list(names), bool(getattr(cls, "OUTPUT_NODE", False)))
    core = json.loads(CORE_NODES.read_text(encoding="utf-8"))["nodes"]
    for node_type, d in core.items():
        defs[node_type] = parse_definition(node_type, d["display_name"], d["input"], d["output"],
                                           d["output_name"], d.get("output_node", False), d.get("virtual", False))
    for d in defs.values():
        for name in [s.name for s in d.sockets] + [w.name for w in d.widgets]:
            if CREDENTIAL_WORDS.search(name):
                raise ValueError(f"{d.type} has an input named {name!r}; credentials must never be inputs")
    return defs


# --------------------------------------------------------------------------- graph builder

@dataclass
class Node:
    id: int
    definition: NodeDef
    widgets_values: list[Any]
    title: str | None = None
    inputs: dict[str, int | None] = field(default_factory=dict)  # socket name -> link id
    outputs: dict[str, list[int]] = field(default_factory=dict)  # output name -> link ids
    pos: tuple[int, int] = (0, 0)

    @property
    def type(self) -> str:
        return self.definition.type

    @property
    def label(self) -> str:
        return self.title or self.definition.display_name

    def _counts(self) -> tuple[int, int, int]:
        d = self.definition
        return (max(len(d.sockets), len(d.outputs)), len(d.widgets),
                sum(1 for w in d.widgets if w.options.get("multiline")))

    def _pack_extras(self) -> tuple[int, int]:
        """Height the pack's web extension adds (classic, Nodes 2.0): the Copy task id button and the status."""
        if not self.type.startswith("HDRedraw_"):
            return 0, 0
        copy = (28, 34) if self.type != "HDRedraw_RenderSVG" else (0, 0)
        return copy[0] + 56, copy[1] + 47

    def size(self) -> tuple[int, int]:
        """The node's size as stored (the classic canvas body, title excluded)."""
        d = self.definition
        if d.virtual:
            lines = sum(max(1, len(line) // 44 + 1) for line in str(self.widgets_values[0]).split("\n"))
            return 360, 40 + 18 * lines
        if self.type == "LoadImage":
            return 320, 330
        if self.type in ("SaveImage", "PreviewImage"):
            return 320, 300
        slots, widgets, multiline = self._counts()
        return 330, 16 + 22 * slots + 24 * widgets + 60 * multiline + self._pack_extras()[0]

    def footprint(self) -> int:
        """The height the node takes on screen in either renderer, title included.

        Nodes 2.0 (frontend 1.35+) draws each slot and widget as a taller row than the canvas does; the
        factors are measured on frontends 1.35 and 1.58 (tests/test_browser.py checks the result)."""
        d = self.definition
        classic = self.size()[1] + TITLE
        if d.virtual or self.type in ("LoadImage", "SaveImage", "PreviewImage"):
            return classic + 20
        slots, widgets, multiline = self._counts()
        vue = 58 + 24 * slots + 32 * widgets + 40 * multiline + self._pack_extras()[1]
        return max(classic, vue) + 10

    def non_defaults(self) -> list[str]:
        """Widget values set on purpose, as short text (for the thumbnail)."""
        if self.type == "LoadImage":
            return [str(self.widgets_values[0])]
        out = []
        for w, v in zip(self.definition.widgets, self.widgets_values, strict=True):
            if v != w.default():
                if isinstance(v, bool):
                    out.append(w.name.replace("_", " ") + (" on" if v else " off"))
                elif isinstance(v, str) and len(v) > 24:
                    out.append(f"{w.name.replace('_', ' ')}: {v[:21]}...")
                else:
                    out.append(f"{w.name.replace('_', ' ')} {v:g}" if isinstance(v, float)
                               else f"{w.name.replace('_', ' ')} {v}")
        return out


class Workflow:
    """A UI workflow under construction: add nodes, connect them, then `to_json()`."""

    def __init__(self, name: str, title: str, summary: str, defs: dict[str, NodeDef]):
        self.name, self.title, self.summary = name, title, summary
        self.defs = defs
        self.nodes: list[Node] = []
        self.links: list[list[Any]] = []

    def add(self, node_type: str, title: str | None = None, **values: Any) -> Node:
        d = self.defs[node_type]
        widgets_values: list[Any] = []
        for w in d.widgets:
            v = values.pop(w.name, w.default())
            w.check(v)
            widgets_values.append(v)
            if w.options.get("image_upload"):
                widgets_values.append("image")  # the front end's upload button stores its kind after the file
        if values:
            raise KeyError(f"{node_type} has no widget(s) {sorted(values)}")
        node = Node(len(self.nodes) + 1, d, widgets_values, title,
                    inputs={s.name: None for s in d.sockets}, outputs={name: [] for name, _ in d.outputs})
        self.nodes.append(node)
        return node

    def note(self, text: str, title: str = "Note") -> Node:
        return self.add("Note", title=title, text=text)

    def connect(self, src: Node, output: str, dst: Node, input_name: str) -> None:
        out_type = dict(src.definition.outputs)[output]
        socket = next(s for s in dst.definition.sockets if s.name == input_name)
        if socket.type != out_type:
            raise TypeError(f"{src.type}.{output} ({out_type}) cannot feed {dst.type}.{input_name} ({socket.type})")
        if dst.inputs[input_name] is not None:
            raise ValueError(f"{dst.type}.{input_name} is already connected")
        link_id = len(self.links) + 1
        slot_out = [name for name, _ in src.definition.outputs].index(output)
        slot_in = [s.name for s in dst.definition.sockets].index(input_name)
        self.links.append([link_id, src.id, slot_out, dst.id, slot_in, out_type])
        src.outputs[output].append(link_id)
        dst.inputs[input_name] = link_id

    # ---- layout and order

    def parents(self, node: Node) -> list[Node]:
        by_id = {n.id: n for n in self.nodes}
        return [by_id[link[1]] for link in self.links if link[3] == node.id]

    def depth(self, node: Node) -> int:
        ps = self.parents(node)
        return 1 + max(self.depth(p) for p in ps) if ps else 0

    def execution_order(self) -> dict[int, int]:
        """Topological order (ties by node id), as the front end stores it in `order`."""
        done: dict[int, int] = {}
        while len(done) < len(self.nodes):
            ready = [n for n in self.nodes if n.id not in done and all(p.id in done for p in self.parents(n))]
            done[ready[0].id] = len(done)
        return done

    def layout(self) -> None:
        """Columns by depth in the graph, nodes stacked in each column in the order they were added."""
        columns: dict[int, list[Node]] = {}
        for n in self.nodes:
            columns.setdefault(self.depth(n), []).append(n)
        x = MARGIN
        for col in sorted(columns):
            y = MARGIN
            for n in columns[col]:
                n.pos = (x, y)
                y += n.footprint() + ROW_GAP
            x += max(n.size()[0] for n in columns[col]) + COL_GAP

    def to_json(self) -> dict[str, Any]:
        self.layout()
        order = self.execution_order()
        width = max(n.pos[0] + n.size()[0] for n in self.nodes) + MARGIN
        height = max(n.pos[1] + n.size()[1] for n in self.nodes) + MARGIN
        scale = round(min(1.0, 1400 / width, 760 / height), 2)  # fits a laptop screen beside the sidebar
        nodes = []
        for n in self.nodes:
            d = n.definition
            node: dict[str, Any] = {"id": n.id, "type": n.type, "pos": list(n.pos), "size": list(n.size()),
                                    "flags": {}, "order": order[n.id], "mode": 0}
            inputs = []
            for s in d.sockets:
                entry: dict[str, Any] = {"name": s.name, "type": s.type}
                if s.optional:
                    entry["shape"] = 7  # the front end draws optional inputs hollow
                entry["link"] = n.inputs[s.name]
                inputs.append(entry)
            node["inputs"] = inputs
            node["outputs"] = [{"name": name, "type": t, "links": n.outputs[name] or None, "slot_index": i}
                               for i, (name, t) in enumerate(d.outputs)]
            if n.title:
                node["title"] = n.title
            node["properties"] = {} if d.virtual else {"Node name for S&R": n.type}
            node["widgets_values"] = list(n.widgets_values)
            if d.virtual:
                node["color"], node["bgcolor"] = NOTE_COLOR, NOTE_BGCOLOR
            nodes.append(node)
        return {
            "id": str(uuid.uuid5(UUID_NAMESPACE, self.name)),
            "revision": 0,
            "last_node_id": len(self.nodes),
            "last_link_id": len(self.links),
            "nodes": nodes,
            "links": [list(link) for link in self.links],
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": scale, "offset": [0, 0]}},
            "version": 0.4,
        }


# --------------------------------------------------------------------------- the workflows

UPSCALE_WEIGHTS = "RealESRGAN_x4plus.pth"
UPSCALE_URL = "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth"
SAFE = "Credentials are set outside the workflow (see the README), so this file is safe to share."
REUSE = ("Running again with the same image and settings reuses the recorded result at no charge; change "
         "'variation' to pay for a fresh result on purpose.")


def _single(defs: dict[str, NodeDef], name: str, node_type: str, summary: str, prefix: str,
            note: str, **values: Any) -> Workflow:
    """LoadImage -> node -> SaveImage (its first IMAGE output), with a Note."""
    wf = Workflow(name, defs[node_type].display_name, summary, defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    node = wf.add(node_type, **values)
    wf.connect(load, "IMAGE", node, "image")
    first_image = next(name for name, t in node.definition.outputs if t == "IMAGE")
    save = wf.add("SaveImage", filename_prefix=f"hdredraw/{prefix}")
    wf.connect(node, first_image, save, "images")
    wf.note(f"{note}\n\n{REUSE}\n\n{SAFE}")
    return wf


def build(defs: dict[str, NodeDef]) -> list[Workflow]:
    wfs = [
        _single(defs, "hd_redraw_upscale", "HDRedraw_Redraw", "Redraw a photo in high definition at 2x.",
                "redraw", "HD Redraw / Upscale: redraws the image in high definition. 'upscale' is set to 2 here "
                "(1-8). Turn on 'vector_switch' to also get an EPS, or 'auto_generate_prompt' for a prompt.",
                upscale=2.0),
        _single(defs, "face_enhance", "HDRedraw_FaceEnhance", "Restore and enhance faces.", "face_enhance",
                "Face Enhance: restores faces; frontal faces work best."),
        _single(defs, "remove_fabric_texture", "HDRedraw_RemoveFabric",
                "Remove the weave from a photographed print.", "remove_fabric",
                "Remove Fabric Texture: removes the fabric weave from a photographed print and keeps the "
                "pattern. Files up to 16 MB."),
        _single(defs, "ai_edit_by_instruction", "HDRedraw_EditImage", "Edit an image by a text instruction.",
                "edit_image", "AI Edit: write what to change in 'prompt' (it must not be empty). model_version "
                "v2 gives higher quality.", prompt="turn this into a watercolour painting"),
        _single(defs, "extract_print_pattern", "HDRedraw_ExtractPattern",
                "Extract the print from a garment photo.", "extract_pattern",
                "Extract Print Pattern: pulls the print off a garment photo as a repeatable pattern; 'images' "
                "may hold several results."),
        _single(defs, "remove_rhinestones", "HDRedraw_RemoveDiamonds",
                "Remove rhinestones and glitter from a design.", "remove_rhinestones",
                "Remove Rhinestones: removes rhinestones, hot-fix stones and glitter while keeping the pattern."),
        _single(defs, "expand_outpaint", "HDRedraw_ExpandImage", "Extend an image on the sides (outpaint).",
                "expand", "Expand: each side grows by its fraction of the image size (0-0.3). Here left and right "
                "grow by 0.15 each; 'prompt' can guide the new areas.", expand_left=0.15, expand_right=0.15),
        _single(defs, "remove_watermark", "HDRedraw_RemoveWatermark", "Remove watermarks.", "remove_watermark",
                "Remove Watermark: removes watermarks from the image. Files up to 16 MB."),
    ]

    # Vectorize: the EPS is written by the node itself; its preview goes to a Preview Image.
    wf = Workflow("vectorize_eps", "Vectorize (EPS)", "Turn flat artwork into an EPS vector.", defs)
    load, vec = wf.add("LoadImage", image=EXAMPLE_IMAGE), wf.add("HDRedraw_Vectorize")
    wf.connect(load, "IMAGE", vec, "image")
    wf.connect(vec, "preview", wf.add("PreviewImage"), "images")
    wf.note("Vectorize (EPS): suits flat artwork with few colours ('color_count', 2-16), not photos. The EPS "
            "files are saved under output/hdredraw/; their paths come out of 'eps_path'. The preview shows the "
            f"result.\n\n{REUSE}\n\n{SAFE}")
    wfs.append(wf)

    # Seamless: the tile and its tiling grid.
    wf = Workflow("seamless_tile", "Seamless Tile", "Make a pattern tile seamlessly.", defs)
    load, seam = wf.add("LoadImage", image=EXAMPLE_IMAGE), wf.add("HDRedraw_Seamless")
    wf.connect(load, "IMAGE", seam, "image")
    wf.connect(seam, "image", wf.add("SaveImage", filename_prefix="hdredraw/seamless"), "images")
    wf.connect(seam, "grid", wf.add("PreviewImage"), "images")
    wf.note("Seamless Tile: makes the image tile without visible seams. 'fit' trades detail (low) for smooth "
            "seams (high); 'direction' picks which edges join. The preview shows the tiling grid; 'image_1x' "
            f"is the tile at 1x.\n\n{REUSE}\n\n{SAFE}")
    wfs.append(wf)

    # HiDream: SVG saved by core's Save SVG, and rendered locally for a look.
    wf = Workflow("hidream_vectorize_svg", "HiDream Vectorize (SVG)", "Image to SVG with HiDream img2svg.", defs)
    load, hd = wf.add("LoadImage", image=EXAMPLE_IMAGE), wf.add("HDRedraw_HiDreamVectorize")
    wf.connect(load, "IMAGE", hd, "image")
    wf.connect(hd, "svg", wf.add("SaveSVGNode", title="Save SVG", filename_prefix="hdredraw/hidream"), "svg")
    render = wf.add("HDRedraw_RenderSVG")
    wf.connect(hd, "svg", render, "svg")
    wf.connect(render, "image", wf.add("PreviewImage"), "images")
    wf.note("HiDream Vectorize: 'slow' is more precise, 'fast' is quicker. Save SVG writes the .svg files to "
            "output/hdredraw/; Render SVG draws them locally (nothing is fetched) for the preview.\n\n"
            f"{REUSE}\n\n{SAFE}")
    wfs.append(wf)

    # Render SVG: any SVG to an image at a chosen size.
    wf = Workflow("render_svg", "Render SVG", "Render an SVG at any size.", defs)
    load, hd = wf.add("LoadImage", image=EXAMPLE_IMAGE), wf.add("HDRedraw_HiDreamVectorize")
    wf.connect(load, "IMAGE", hd, "image")
    render = wf.add("HDRedraw_RenderSVG", width=2048, background="#ffffff")
    wf.connect(hd, "svg", render, "svg")
    wf.connect(render, "image", wf.add("SaveImage", filename_prefix="hdredraw/render_svg"), "images")
    wf.note("Render SVG: draws SVG locally at any size (here 2048 px wide; height 0 keeps the aspect ratio) on "
            "a white background (leave 'background' empty to keep transparency, which comes out as 'mask'). "
            "It takes an SVG (as here, from HiDream Vectorize) or SVG markup on 'svg_text'. Scripts and external "
            f"references are removed first.\n\n{SAFE}")
    wfs.append(wf)

    # Fetch Task: free re-download of finished tasks.
    wf = Workflow("fetch_task_result", "Fetch Task Result", "Get a finished task's results again, free.", defs)
    fetch = wf.add("HDRedraw_FetchTask")
    wf.connect(fetch, "images", wf.add("SaveImage", filename_prefix="hdredraw/fetched"), "images")
    wf.note("Paste one or more task ids into 'task_id' (one per line, or separated by commas) and pick the "
            "service they belong to. Every HD Redraw node returns its ids on 'task_ids'. Or set 'recent' to N "
            "to fetch the N most recent finished tasks of that service instead.\n\nFetching creates no new task "
            f"and costs nothing.\n\n{SAFE}", title="Paste a task id")
    wfs.append(wf)

    # ---- recipes

    wf = Workflow("garment_to_vector", "Garment to vector",
                  "Garment photo to a clean, seamless print and vectors (EPS + SVG).", defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    extract = wf.add("HDRedraw_ExtractPattern")
    wf.connect(load, "IMAGE", extract, "image")
    clean = wf.add("HDRedraw_RemoveFabric")
    wf.connect(extract, "images", clean, "image")
    wf.connect(extract, "images", wf.add("SaveImage", filename_prefix="hdredraw/garment/1_pattern"), "images")
    seam = wf.add("HDRedraw_Seamless")
    wf.connect(clean, "image", seam, "image")
    wf.connect(clean, "image", wf.add("SaveImage", filename_prefix="hdredraw/garment/2_no_fabric"), "images")
    vec = wf.add("HDRedraw_Vectorize")
    wf.connect(seam, "image", vec, "image")
    hd = wf.add("HDRedraw_HiDreamVectorize")
    wf.connect(seam, "image_1x", hd, "image")
    wf.connect(seam, "image", wf.add("SaveImage", filename_prefix="hdredraw/garment/3_seamless"), "images")
    wf.connect(vec, "preview", wf.add("SaveImage", filename_prefix="hdredraw/garment/4_eps_preview"), "images")
    wf.connect(hd, "svg", wf.add("SaveSVGNode", title="Save SVG", filename_prefix="hdredraw/garment/5_svg"), "svg")
    wf.note("Garment photo -> Extract Print Pattern -> Remove Fabric Texture -> Seamless Tile -> vectors: "
            "Vectorize makes an EPS of the seamless image (saved under output/hdredraw/), HiDream Vectorize an "
            "SVG of the 1x tile. Every step is saved. Each step is a paid task; rerunning with the same inputs "
            f"and settings reuses the recorded results at no charge.\n\n{SAFE}", title="Recipe")
    wfs.append(wf)

    wf = Workflow("old_photo_restore", "Old photo restore", "Restore faces, then redraw twice at 2x (4x in all).",
                  defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    face = wf.add("HDRedraw_FaceEnhance")
    wf.connect(load, "IMAGE", face, "image")
    first = wf.add("HDRedraw_Redraw", upscale=2.0, high_fidelity=True, strong_inpaint=True)
    wf.connect(face, "image", first, "image")
    second = wf.add("HDRedraw_Redraw", upscale=2.0, high_fidelity=True)
    wf.connect(first, "image", second, "image")
    wf.connect(second, "image", wf.add("SaveImage", filename_prefix="hdredraw/restored"), "images")
    wf.note("Old photo: Face Enhance restores the faces, then two HD Redraw passes at 2x each give 4x in all. "
            "The first pass uses strong inpaint to repair scratches and damage; both keep high fidelity to stay "
            f"close to the original.\n\n{REUSE}\n\n{SAFE}", title="Recipe")
    wfs.append(wf)

    wf = Workflow("product_shot_16x9", "Product shot 16:9", "Square product shot to a wide banner.", defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    clean = wf.add("HDRedraw_RemoveWatermark")
    wf.connect(load, "IMAGE", clean, "image")
    expand = wf.add("HDRedraw_ExpandImage", expand_left=0.3, expand_right=0.3,
                    prompt="clean studio backdrop continuing the original background, soft even light")
    wf.connect(clean, "image", expand, "image")
    wf.connect(expand, "image", wf.add("SaveImage", filename_prefix="hdredraw/product_wide"), "images")
    wf.note("Remove Watermark, then Expand adds 30% on the left and on the right, the most the service allows "
            "per side. A square (1:1) shot becomes 1.6:1 (16:10), the closest to 16:9 (1.78:1) it can reach in "
            "one pass; crop a little off the top and bottom for exact 16:9, or start from a 4:3 shot with "
            f"expand_left = expand_right = 0.17 (gives 1.79:1).\n\n{SAFE}", title="Recipe: 1:1 to ~16:9")
    wfs.append(wf)

    # ---- recipes that mix the pack with local work (core nodes before and after)

    wf = Workflow("local_upscale_then_redraw", "Local upscale model, then HD Redraw",
                  "A local upscale model enlarges first; ImageScale sets the size; HD Redraw refines.", defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    model = wf.add("UpscaleModelLoader", model_name=UPSCALE_WEIGHTS)
    upscaled = wf.add("ImageUpscaleWithModel")
    wf.connect(model, "UPSCALE_MODEL", upscaled, "upscale_model")
    wf.connect(load, "IMAGE", upscaled, "image")
    scale = wf.add("ImageScale", title="Scale to 2048 wide", upscale_method="lanczos", width=2048, height=0)
    wf.connect(upscaled, "IMAGE", scale, "image")
    redraw = wf.add("HDRedraw_Redraw", high_fidelity=True)
    wf.connect(scale, "IMAGE", redraw, "image")
    wf.connect(redraw, "image", wf.add("SaveImage", filename_prefix="hdredraw/local_upscale_redraw"), "images")
    wf.note(f"Needs model weights: put {UPSCALE_WEIGHTS} (Real-ESRGAN x4plus, {UPSCALE_URL}) into "
            "ComfyUI/models/upscale_models/, or pick any other upscale model you have in Load Upscale Model.\n\n"
            "The local model does the 4x enlargement on your machine (free); Upscale Image brings it to 2048 px wide "
            "(height 0 keeps the aspect ratio); HD Redraw then redraws at 1x with high fidelity, one paid task.\n\n"
            f"{REUSE}\n\n{SAFE}", title="Recipe: needs RealESRGAN_x4plus.pth")
    wfs.append(wf)

    wf = Workflow("scale_then_redraw", "Scale, HD Redraw, scale back",
                  "Core Upscale Image before and after HD Redraw: a fixed working size, a fixed delivery size.", defs)
    load = wf.add("LoadImage", image=EXAMPLE_IMAGE)
    before = wf.add("ImageScale", title="Working size: 1024 wide", upscale_method="lanczos", width=1024, height=0)
    wf.connect(load, "IMAGE", before, "image")
    redraw = wf.add("HDRedraw_Redraw", upscale=2.0)
    wf.connect(before, "IMAGE", redraw, "image")
    after = wf.add("ImageScale", title="Delivery size: 1600 wide", upscale_method="area", width=1600, height=0)
    wf.connect(redraw, "image", after, "image")
    wf.connect(after, "IMAGE", wf.add("SaveImage", filename_prefix="hdredraw/scaled_redraw"), "images")
    wf.note("Upscale Image (core) brings any input to 1024 px wide, so every run sends the service the same size "
            "and costs the same; HD Redraw redraws at 2x; a second Upscale Image delivers 1600 px wide. Height 0 "
            f"keeps the aspect ratio.\n\n{REUSE}\n\n{SAFE}", title="Recipe")
    wfs.append(wf)

    wf = Workflow("print_on_mockup", "Extracted print on a garment mock-up",
                  "Extract Print Pattern's image and MASK placed on a mock-up with core ImageCompositeMasked.", defs)
    garment = wf.add("LoadImage", title="Garment photo", image=EXAMPLE_IMAGE)
    mockup = wf.add("LoadImage", title="Mock-up", image=EXAMPLE_IMAGE)
    working = wf.add("ImageScale", title="Working size: 1024 wide", upscale_method="area", width=1024, height=0)
    wf.connect(garment, "IMAGE", working, "image")
    extract = wf.add("HDRedraw_ExtractPattern")
    wf.connect(working, "IMAGE", extract, "image")
    small = wf.add("ImageScale", title="Print size on the mock-up", upscale_method="lanczos", width=256, height=0)
    wf.connect(extract, "images", small, "image")
    invert = wf.add("InvertMask")
    wf.connect(extract, "mask", invert, "mask")
    place = wf.add("ImageCompositeMasked", title="Place on the mock-up", x=64, y=64)
    wf.connect(mockup, "IMAGE", place, "destination")
    wf.connect(small, "IMAGE", place, "source")
    wf.connect(invert, "MASK", place, "mask")
    wf.connect(place, "IMAGE", wf.add("SaveImage", filename_prefix="hdredraw/print_on_mockup"), "images")
    wf.note("A phone photo is brought to 1024 px wide first (smaller uploads, same result); Extract Print Pattern "
            "pulls the print off the garment; Upscale Image sizes it for the mock-up; "
            "ImageCompositeMasked pastes it at x, y. The pack's MASK follows LoadImage's convention (1 = "
            "transparent), so InvertMask turns it into 'where to paste'. Swap in your own mock-up photo.\n\n"
            f"{REUSE}\n\n{SAFE}", title="Recipe")
    wfs.append(wf)

    wf = Workflow("svg_print_blend", "Vector at print resolution, blended with fabric",
                  "HiDream SVG rendered at print size, then core Image Blend over a fabric photo to proof it.", defs)
    load = wf.add("LoadImage", title="Artwork", image=EXAMPLE_IMAGE)
    fabric = wf.add("LoadImage", title="Fabric photo", image=EXAMPLE_IMAGE)
    clean = wf.add("ImageScale", title="Vectorize at 1024 wide", upscale_method="lanczos", width=1024, height=0)
    wf.connect(load, "IMAGE", clean, "image")
    vector = wf.add("HDRedraw_HiDreamVectorize")
    wf.connect(clean, "IMAGE", vector, "image")
    render = wf.add("HDRedraw_RenderSVG", title="Render at print size", width=2048, background="#ffffff")
    wf.connect(vector, "svg", render, "svg")
    wf.connect(vector, "svg", wf.add("SaveSVGNode", title="Save SVG", filename_prefix="hdredraw/print_svg"), "svg")
    blend = wf.add("ImageBlend", blend_factor=0.35, blend_mode="multiply")
    wf.connect(render, "image", blend, "image1")
    wf.connect(fabric, "IMAGE", blend, "image2")
    wf.connect(blend, "IMAGE", wf.add("SaveImage", filename_prefix="hdredraw/print_on_fabric"), "images")
    wf.note("The artwork is vectorized at 1024 px wide (the SVG does not depend on the pixel count); HiDream "
            "Vectorize makes the SVG (saved as is); Render SVG draws it locally at print resolution "
            "(2048 px wide here; set 'width' to your print's pixels); Image Blend multiplies a fabric photo over it "
            "at 35% to proof how the print sits on the cloth (Image Blend resizes the fabric to the render).\n\n"
            f"{REUSE}\n\n{SAFE}", title="Recipe")
    wfs.append(wf)
    return wfs


def generate(defs: dict[str, NodeDef] | None = None) -> dict[str, dict[str, Any]]:
    """Every example workflow, by file name (without .json), as parsed JSON."""
    defs = defs or definitions()
    out = {}
    for wf in build(defs):
        if wf.name in out:
            raise ValueError(f"two workflows named {wf.name}")
        out[wf.name] = wf.to_json()
    return out


# --------------------------------------------------------------------------- thumbnails

THUMB_SIZE = (512, 384)
TYPE_COLORS = {"IMAGE": (100, 181, 246), "MASK": (129, 199, 132), "SVG": (255, 183, 77), "STRING": (176, 190, 197)}
SINKS = {"SaveImage": "save", "PreviewImage": "preview", "SaveSVGNode": "save svg"}
SELF_SAVING = {"HDRedraw_Vectorize": ("eps",)}  # nodes that write their own files
HINTS = {"HDRedraw_FetchTask": ["task id: paste here"]}


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 or no FreeType
        return ImageFont.load_default()


def _wrap(draw: Any, text: str, font: Any, width: int, max_lines: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(lines[-1] + " " + word, font=font) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        while lines[-1] and draw.textlength(lines[-1] + "...", font=font) > width:
            lines[-1] = lines[-1][:-1]
        lines[-1] += "..."
    return lines


def thumbnail(wf: Workflow) -> Any:
    """A diagram of the workflow: processing nodes as boxes, saves and previews as tags on their source.

    Drawn at twice the size and scaled down, for smooth lines and text.
    """
    from PIL import Image, ImageDraw

    w, h = THUMB_SIZE
    k = 2  # supersampling

    def sc(*values: float) -> tuple[float, ...]:
        return tuple(v * k for v in values)

    img = Image.new("RGB", (w * k, h * k), (30, 31, 36))
    draw = ImageDraw.Draw(img)
    title_font, sub_font, node_font, small_font = _font(22 * k), _font(13 * k), _font(13 * k), _font(11 * k)

    def text(x: float, y: float, s: str, font: Any, fill: tuple[int, int, int]) -> None:
        draw.text(sc(x, y), s, font=font, fill=fill)

    def wrap(s: str, font: Any, width: float, max_lines: int) -> list[str]:
        return _wrap(draw, s, font, int(width * k), max_lines)

    text(18, 14, wf.title, title_font, (240, 240, 240))
    for i, line in enumerate(wrap(wf.summary, sub_font, w - 36, 2)):
        text(18, 44 + 16 * i, line, sub_font, (170, 174, 184))
    draw.line(sc(18, 82, w - 18, 82), fill=(60, 62, 70), width=k)
    text(18, h - 22, "HD Redraw - example workflow", small_font, (110, 114, 124))

    shown = [n for n in wf.nodes if not n.definition.virtual and n.type not in SINKS]
    by_id = {n.id: n for n in wf.nodes}
    tags: dict[int, list[str]] = {n.id: list(SELF_SAVING.get(n.type, ())) for n in shown}
    for link in wf.links:
        if by_id[link[3]].type in SINKS:
            tags[link[1]].append(SINKS[by_id[link[3]].type])
    columns: dict[int, list[Node]] = {}
    for n in shown:
        columns.setdefault(wf.depth(n), []).append(n)
    ncols, nrows = len(columns), max(len(c) for c in columns.values())
    top, bottom, left, right = 96, h - 34, 18, w - 18
    cell_w, cell_h = (right - left) / ncols, (bottom - top) / nrows
    box_w, box_h = min(170, cell_w - 26), min(100, cell_h - 14)

    boxes: dict[int, tuple[float, float, float, float]] = {}
    for col, members in enumerate(columns[c] for c in sorted(columns)):
        x0 = left + col * cell_w + (cell_w - box_w) / 2
        y_start = top + (bottom - top - len(members) * cell_h) / 2
        for row, n in enumerate(members):
            y0 = y_start + row * cell_h + (cell_h - box_h) / 2
            boxes[n.id] = (x0, y0, x0 + box_w, y0 + box_h)

    for link in wf.links:
        if link[1] not in boxes or link[3] not in boxes:
            continue
        (_, ay0, ax1, ay1), (bx0, by0, _, by1) = boxes[link[1]], boxes[link[3]]
        a, b = (ax1, (ay0 + ay1) / 2), (bx0 - 6, (by0 + by1) / 2)
        color = TYPE_COLORS.get(link[5], (200, 200, 200))
        if abs(a[1] - b[1]) < 1:
            draw.line(sc(*a, *b), fill=color, width=3 * k)
        else:
            mid, pts = (a[0] + b[0]) / 2, []
            for i in range(41):  # a cubic Bezier, like the front end's links
                t = i / 40
                x = (1 - t) ** 3 * a[0] + 3 * (1 - t) ** 2 * t * mid + 3 * (1 - t) * t ** 2 * mid + t ** 3 * b[0]
                y = (1 - t) ** 3 * a[1] + 3 * (1 - t) ** 2 * t * a[1] + 3 * (1 - t) * t ** 2 * b[1] + t ** 3 * b[1]
                pts.append(sc(x, y))
            draw.line(pts, fill=color, width=3 * k, joint="curve")
        draw.polygon([sc(b[0] + 6, b[1]), sc(b[0] - 2, b[1] - 5), sc(b[0] - 2, b[1] + 5)], fill=color)

    for n in shown:
        x0, y0, x1, y1 = boxes[n.id]
        ours = n.type.startswith("HDRedraw_")
        body, bar = ((44, 62, 88), (58, 92, 138)) if ours else ((52, 53, 58), (72, 74, 80))
        draw.rounded_rectangle(sc(x0, y0, x1, y1), radius=7 * k, fill=body, outline=(20, 20, 24), width=k)
        title_lines = wrap(n.label, node_font, box_w - 12, 2 if box_w >= 100 else 3)
        bar_h = 8 + 16 * len(title_lines)
        draw.rounded_rectangle(sc(x0, y0, x1, y0 + bar_h), radius=7 * k, fill=bar)
        draw.rectangle(sc(x0, y0 + bar_h - 7, x1, y0 + bar_h), fill=bar)
        for i, line in enumerate(title_lines):
            text(x0 + 6, y0 + 4 + 16 * i, line, node_font, (245, 245, 245))
        y = y0 + bar_h + 4
        room = int((y1 - (22 if tags[n.id] else 4) - y) // 14)
        for line in (HINTS.get(n.type) or n.non_defaults())[:max(0, room)]:
            text(x0 + 6, y, wrap(line, small_font, box_w - 12, 1)[0], small_font, (205, 210, 220))
            y += 14
        tx = x0 + 6
        for tag in tags[n.id]:
            tw = draw.textlength(tag, font=small_font) / k + 10
            if tx + tw > x1 - 4:
                break
            draw.rounded_rectangle(sc(tx, y1 - 19, tx + tw, y1 - 5), radius=6 * k, fill=(46, 125, 90))
            text(tx + 5, y1 - 18, tag, small_font, (235, 245, 238))
            tx += tw + 4
    return img.resize(THUMB_SIZE, Image.Resampling.LANCZOS)


def write(out_dir: Path = OUT_DIR, thumbnails: bool = True) -> list[Path]:
    defs = definitions()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for wf in build(defs):
        path = out_dir / f"{wf.name}.json"
        path.write_text(json.dumps(wf.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
        if thumbnails:
            jpg = path.with_suffix(".jpg")
            thumbnail(wf).save(jpg, "JPEG", quality=85, optimize=True)
            written.append(jpg)
    return written


def stale(out_dir: Path = OUT_DIR) -> list[str]:
    """Names whose committed JSON differs from (or lacks) the generated one, plus strays."""
    expected = generate()
    present = {p.stem for p in out_dir.glob("*.json")}
    bad = sorted(present - set(expected))
    for name, data in expected.items():
        path = out_dir / f"{name}.json"
        if not path.exists() or json.loads(path.read_text(encoding="utf-8")) != data:
            bad.append(name)
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed files are current")
    parser.add_argument("--no-thumbnails", action="store_true", help="write the JSON only")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"out of date: example_workflows/{name}.json", file=sys.stderr)
        return 1 if bad else 0
    for path in write(thumbnails=not args.no_thumbnails):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
