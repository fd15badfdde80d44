"""ComfyUI locale files, generated from the operation specs and node definitions.

`python -m hdredraw.nodes.i18n --write` regenerates `locales/en` and `locales/zh`; a test fails if the
committed files differ from what this produces, so translations can never drift from the nodes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..engine import config, specs
from ..engine.text import Text
from .output_kinds import OUT

LANGS = ("en", "zh")
ROOT = Path(__file__).resolve().parents[1] / "locales"

CATEGORIES = {
    "HD Redraw": Text("HD Redraw", "高清重绘"),
    "Enhance": Text("Enhance", "增强"),
    "Vector": Text("Vector", "矢量"),
    "Pattern": Text("Pattern", "图案"),
    "Edit": Text("Edit", "编辑"),
    "Tasks": Text("Tasks", "任务"),
    "HiDream": Text("HiDream", "HiDream"),
}

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

DISPLAY = {"HDRedraw_RenderSVG": Text("Render SVG", "渲染 SVG")}


def _split(tooltip: str) -> Text:
    """Node definitions carry 'English\\n中文' tooltips; split them back."""
    en, _, zh = tooltip.partition("\n")
    return Text(en, zh or en)


def node_defs(lang: str) -> dict[str, Any]:
    from .registry import node_classes

    ops = {op.node_id: op for op in specs.OPERATIONS.values() if op.node_id}
    out: dict[str, Any] = {}
    for node_id, cls in node_classes().items():
        op = ops.get(node_id)
        title = op.title if op else DISPLAY[node_id]
        types = cls.INPUT_TYPES()
        inputs: dict[str, Any] = {}
        for group in ("required", "optional"):
            for name, spec in types.get(group, {}).items():
                label = EXTRA_INPUTS.get(name)
                if label is None and op is not None:
                    label = op.field(name).label
                inputs[name] = {"name": (label or Text(name, name)).get(lang),
                                "tooltip": _split(spec[1].get("tooltip", "")).get(lang)}
        outputs = {str(i): {"name": OUTPUT_NAMES[n].get(lang), "tooltip": OUT[n].tooltip.get(lang)}
                   for i, n in enumerate(cls.RETURN_NAMES)}
        out[node_id] = {"display_name": title.get(lang), "description": _split(cls.DESCRIPTION).get(lang),
                        "inputs": inputs, "outputs": outputs}
    return out


def main_json(lang: str) -> dict[str, Any]:
    return {"nodeCategories": {k: v.get(lang) for k, v in CATEGORIES.items()}}


def settings_json(lang: str) -> dict[str, Any]:
    out = {}
    for s in config.SETTINGS:
        help_text = Text(f"{s.help_en} Environment variable {s.env} wins over this setting.",
                         f"{s.help_zh}环境变量 {s.env} 优先于此设置。")
        out[f"HDRedraw_{s.name}"] = {"name": Text(s.label_en, s.label_zh).get(lang), "tooltip": help_text.get(lang)}
    return out


def generate() -> dict[str, dict[str, Any]]:
    """Relative path -> JSON content of every locale file."""
    files = {}
    for lang in LANGS:
        files[f"{lang}/main.json"] = main_json(lang)
        files[f"{lang}/nodeDefs.json"] = node_defs(lang)
        files[f"{lang}/settings.json"] = settings_json(lang)
    return files


def dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def write(root: Path = ROOT) -> None:
    for rel, data in generate().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(data), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(dump(generate()))
