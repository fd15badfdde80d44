"""ComfyUI locale files and the web extension's generated data, from the specs, settings and node definitions.

`python -m hdredraw.nodes.i18n --write` regenerates `locales/en`, `locales/zh` and `web/hdredraw/generated.js`;
a test fails if the committed files differ from what this produces, so translations, setting labels, combo
labels and search aliases can never drift from the nodes.

Chinese text is normalized to full-width punctuation here (nodes/zh.py): many source strings were written with
ASCII commas and parentheses, and what a Chinese reader sees must read as Chinese.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..engine import config, specs
from ..engine.text import Text
from . import titles
from .output_kinds import OUT
from .ui_text import TASK_STATES, UI
from .zh import fullwidth

LANGS = ("en", "zh")
PACK = Path(__file__).resolve().parents[1]
ROOT = PACK / "locales"
GENERATED_JS = PACK / "web" / "hdredraw" / "generated.js"

CATEGORIES = {
    "HD Redraw": Text("HD Redraw", "高清重绘"),
    "Enhance": Text("Enhance", "增强"),
    "Vector": Text("Vector", "矢量"),
    "Pattern": Text("Pattern", "图案"),
    "Edit": Text("Edit", "编辑"),
    "Tasks": Text("Tasks", "任务"),
    "HiDream": Text("HiDream", "HiDream"),
}

# The settings dialog: the pack's category and its two groups (ComfyUI translates them via settingsCategories).
SETTINGS_CATEGORY = "HD Redraw"
SETTING_GROUPS = {"account": Text("Connection and keys", "服务与密钥"), "limits": Text("Limits", "限制")}

EXTRA_INPUTS = {
    "image": Text("image", "图像"),
    "mask": Text("mask", "遮罩"),
    "variation": Text("variation", "变体编号"),
    "task_id": Text("task id", "任务ID"),
    "service": Text("service", "服务"),
    "recent": Text("recent", "最近任务数"),
    "width": Text("width", "宽度"),
    "height": Text("height", "高度"),
    "background": Text("background", "背景色"),
    "svg": Text("svg", "SVG"),
    "svg_text": Text("svg text", "SVG 源码"),
}

OUTPUT_NAMES = {
    "image": Text("image", "图像"), "images": Text("images", "图像"), "grid": Text("grid", "网格图"),
    "image_1x": Text("image 1x", "1 倍图"), "generated_prompt": Text("generated prompt", "生成的提示词"),
    "eps_path": Text("EPS path", "EPS 路径"), "preview": Text("preview", "预览"), "mask": Text("mask", "遮罩"),
    "task_ids": Text("task ids", "任务ID"), "svg": Text("SVG", "SVG"), "svg_text": Text("SVG text", "SVG 源码"),
    "journal": Text("journal", "任务记录"),
}

def local(text: Text, lang: str) -> str:
    """`text` in `lang`, Chinese normalized."""
    return fullwidth(text.zh) if lang == "zh" else text.en


def _split(tooltip: str) -> Text:
    """Node definitions carry 'English\\n中文' tooltips; split them back."""
    en, _, zh = tooltip.partition("\n")
    return Text(en, zh or en)


# ------------------------------------------------------------------ locale files

def _operations() -> dict[str, specs.Operation]:
    return {op.node_id: op for op in specs.OPERATIONS.values() if op.node_id}


def node_defs(lang: str) -> dict[str, Any]:
    from .registry import node_classes

    ops = _operations()
    out: dict[str, Any] = {}
    for node_id, cls in node_classes().items():
        op = ops.get(node_id)
        title = op.title if op else titles.title(node_id)
        types = cls.INPUT_TYPES()
        inputs: dict[str, Any] = {}
        for group in ("required", "optional"):
            for name, spec in types.get(group, {}).items():
                label = EXTRA_INPUTS.get(name)
                if label is None and op is not None:
                    label = op.field(name).label
                inputs[name] = {"name": local(label or Text(name, name), lang),
                                "tooltip": local(_split(spec[1].get("tooltip", "")), lang)}
        outputs = {str(i): {"name": local(OUTPUT_NAMES[n], lang), "tooltip": local(OUT[n].tooltip, lang)}
                   for i, n in enumerate(cls.RETURN_NAMES)}
        out[node_id] = {"display_name": local(title, lang), "description": local(_split(cls.DESCRIPTION), lang),
                        "inputs": inputs, "outputs": outputs}
    return out


def option_labels(lang: str) -> dict[str, dict[str, dict[str, str]]]:
    """{node id: {input: {combo value: label}}} for every choice whose label differs from its value.

    ComfyUI shows combo values as they are (they are data, stored in workflows); the web extension shows these
    labels instead (the widget's `getOptionLabel`)."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for node_id, op in _operations().items():
        for f in op.params:
            labels = {c.label.en: local(c.label, lang) for c in f.choices}
            if any(value != label for value, label in labels.items()):
                out.setdefault(node_id, {})[f.name] = labels
    return out


def main_json(lang: str) -> dict[str, Any]:
    """Node categories, the settings dialog's categories, and the web extension's own strings."""
    ops = {op.id: local(op.title, lang) for op in specs.OPERATIONS.values()}
    return {
        "nodeCategories": {k: local(v, lang) for k, v in CATEGORIES.items()},
        "settingsCategories": {SETTINGS_CATEGORY: local(CATEGORIES[SETTINGS_CATEGORY], lang),
                               **{g.en: local(g, lang) for g in SETTING_GROUPS.values()}},
        "hdredraw": {
            "ui": {key: local(text, lang) for key, text in UI.items()},
            "ops": ops,
            "options": option_labels(lang),
        },
    }


def settings_json(lang: str) -> dict[str, Any]:
    out = {}
    for s in config.SETTINGS:
        help_text = Text(f"{s.help_en} Environment variable {s.env} wins over this setting.",
                         f"{s.help_zh}环境变量 {s.env} 优先于此设置。")
        out[f"HDRedraw_{s.name}"] = {"name": local(Text(s.label_en, s.label_zh), lang), "tooltip": local(help_text, lang)}
    return out


def generate() -> dict[str, dict[str, Any]]:
    """Relative path -> JSON content of every locale file."""
    files = {}
    for lang in LANGS:
        files[f"{lang}/main.json"] = main_json(lang)
        files[f"{lang}/nodeDefs.json"] = node_defs(lang)
        files[f"{lang}/settings.json"] = settings_json(lang)
    return files


# ------------------------------------------------------------------ web/hdredraw/generated.js

def setting_group(s: config.Setting) -> str:
    return "account" if s.secret or s.name.endswith("url") else "limits"


def web_data() -> dict[str, Any]:
    """What the web extension must know before any request (it registers its settings and search words at
    once, without waiting on the network): the settings as config.SETTINGS declares them, with their English
    label and tooltip as ComfyUI's fallback (ComfyUI shows settings.json's translation when there is one), and
    every node's operation, service and search words."""
    from . import aliases
    from .registry import node_classes

    en = settings_json("en")
    settings = [{"name": s.name, "env": s.env, "secret": s.secret, "type": s.cast.__name__, "default": s.default,
                 "min": s.low, "max": s.high, "group": SETTING_GROUPS[setting_group(s)].en,
                 "label": en[f"HDRedraw_{s.name}"]["name"], "tooltip": en[f"HDRedraw_{s.name}"]["tooltip"]}
                for s in config.SETTINGS]
    ops = _operations()
    nodes = {}
    for node_id in node_classes():
        op = ops.get(node_id)
        nodes[node_id] = {"op": op.id if op else None, "service": op.service if op else None,
                          "paid": bool(op and op.paid), "local": node_id in titles.LOCAL_NODES,
                          "aliases": aliases.for_node(node_id)}
    return {"category": SETTINGS_CATEGORY, "settings": settings, "nodes": nodes, "taskStates": list(TASK_STATES)}


def generated_js() -> str:
    """The module text: one line per setting and per node, so it stays short and diffs stay readable."""
    data = web_data()

    def line(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    settings = ",\n".join(f"    {line(s)}" for s in data["settings"])
    nodes = ",\n".join(f"    {line(k)}: {line(v)}" for k, v in data["nodes"].items())
    body = (f'{{\n  "category": {line(data["category"])},\n  "settings": [\n{settings}\n  ],\n'
            f'  "nodes": {{\n{nodes}\n  }},\n  "taskStates": {line(data["taskStates"])}\n}}')
    return ("// Generated by `python -m hdredraw.nodes.i18n --write` from engine/config.py SETTINGS, the operation\n"
            "// specs and nodes/aliases.py; tests/test_locales.py fails when it drifts.  Do not edit.\n"
            f"export const DATA = Object.freeze({body});\n")


def dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def write(root: Path = ROOT, js: Path = GENERATED_JS) -> None:
    for rel, data in generate().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(data), encoding="utf-8")
    js.parent.mkdir(parents=True, exist_ok=True)
    js.write_text(generated_js(), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(dump(generate()))
