"""Per-node help pages for ComfyUI's node help panel, in English and Chinese, generated from the node definitions.

ComfyUI's front end looks for `/extensions/<pack folder>/docs/<NodeId>/<locale>.md`, then `.../docs/<NodeId>.md`,
and `/extensions/<pack folder>` serves WEB_DIRECTORY, so the pages live in `web/docs/`.  Everything on a page
comes from what the node really is (its INPUT_TYPES, which the specs build, its outputs, the locale labels, its
search words, the example workflows that use it), so `python -m hdredraw.nodes.help_pages --write` after a spec
change is all it takes, and tests/test_help_pages.py fails when a committed page drifts.

(The help panel derives the pack folder from the node's Python module by splitting at dots, so it finds the
pages when the pack's folder name has no dot, as the registry's and git's names have.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..engine import specs
from ..engine.text import Text
from . import aliases, i18n
from .zh import fullwidth

PACK = Path(__file__).resolve().parents[1]
DOCS = PACK / "web" / "docs"
EXAMPLES = PACK / "example_workflows"

# One line per example workflow, for the "typical recipes" of every node it uses (the template browser lists
# them by file name, under the pack's folder name).  tests/test_help_pages.py checks every example has one.
RECIPES: dict[str, Text] = {
    "hd_redraw_upscale": Text("a photo redrawn in high definition at 2x", "照片高清重绘并放大 2 倍"),
    "face_enhance": Text("faces restored", "人脸修复"),
    "remove_fabric_texture": Text("the weave removed from a photographed print", "去除印花照片中的布纹"),
    "ai_edit_by_instruction": Text("an image edited by a text instruction", "按文字指令改图"),
    "extract_print_pattern": Text("the print taken off a garment photo", "从服装照片提取印花"),
    "remove_rhinestones": Text("rhinestones and glitter removed", "去除烫钻和闪片"),
    "expand_outpaint": Text("an image extended on the sides", "向两侧扩图"),
    "remove_watermark": Text("watermarks removed", "去水印"),
    "vectorize_eps": Text("flat artwork to an EPS vector", "平面图案转 EPS 矢量图"),
    "seamless_tile": Text("a pattern made to tile, with its tiling preview", "图案无缝化，并预览平铺效果"),
    "hidream_vectorize_svg": Text("an image to SVG with HiDream, saved and previewed",
                                  "用 HiDream 转 SVG，保存并预览"),
    "render_svg": Text("an SVG rendered at 2048 px on white", "SVG 以 2048 像素渲染在白底上"),
    "fetch_task_result": Text("a finished task's results again, free", "免费取回已完成任务的结果"),
    "garment_to_vector": Text("garment photo → print → no fabric → seamless → EPS and SVG",
                              "服装照片 → 印花 → 去布纹 → 无缝 → EPS 和 SVG"),
    "old_photo_restore": Text("old photo: faces restored, then redrawn twice at 2x",
                              "老照片：人脸修复后两次 2 倍高清重绘"),
    "product_shot_16x9": Text("product shot: watermark removed, extended towards 16:9",
                              "产品图：去水印后扩图接近 16:9"),
    "local_upscale_then_redraw": Text("a local upscale model, then HD Redraw (needs RealESRGAN_x4plus.pth)",
                                      "先用本地放大模型，再高清重绘（需要 RealESRGAN_x4plus.pth）"),
    "scale_then_redraw": Text("core Upscale Image before and after HD Redraw",
                              "高清重绘前后各用一次内置“Upscale Image”调整尺寸"),
    "print_on_mockup": Text("the extracted print placed on a garment mock-up (ImageCompositeMasked)",
                            "提取的印花贴到服装样衣图上（ImageCompositeMasked）"),
    "svg_print_blend": Text("a vector rendered at print size and blended with a fabric photo (Image Blend)",
                            "矢量图按印刷尺寸渲染，再与面料照片混合（Image Blend）"),
}

WORDS = {
    "inputs": Text("Inputs", "输入"), "outputs": Text("Outputs", "输出"), "cost": Text("What it costs", "费用"),
    "recipes": Text("Typical recipes", "常用流程"), "search": Text("Search words", "搜索关键词"),
    "input": Text("input", "输入"), "output": Text("output", "输出"), "what": Text("what it does", "说明"),
    "holds": Text("what it holds", "内容"), "values": Text("values", "取值"), "type": Text("type", "类型"),
    "optional": Text("optional", "可选"), "required": Text("connect", "需连接"),
    "default": Text("default", "默认"), "one_of": Text("one of", "可选值"), "text": Text("text", "文本"),
    "none": Text("No example workflow uses this node yet.", "暂无使用此节点的示例工作流。"),
    "templates": Text("ComfyUI's template browser lists these under the pack's folder name.",
                      "可在 ComfyUI 模板浏览器中插件文件夹名下找到这些工作流。"),
}

COST = {
    "paid": Text(
        "Each image of the batch is one paid task on {service} (identical images count once). Neither service "
        "publishes prices: before a run the node shows the price learned from your balance, marked as an estimate "
        "(\"≈ … (estimate)\", or \"price not yet known\" until the first tasks); after the run it shows what the "
        "balance says was charged. Running again with the same image and settings reuses the recorded result at "
        "no charge; change `variation` to pay for a fresh result on purpose. The spend guard in the settings caps "
        "the new paid tasks one run may start.",
        "批量中的每张图片是 {service} 上的一个付费任务（相同图片只算一次）。两个服务都未公布价格：运行前节点显示"
        "根据余额推算的价格，并标明为估计（“≈ …（估计）”，首批任务前显示“价格暂不可知”）；运行后显示余额所反映的"
        "实际扣费。相同图片和参数再次运行会复用已记录的结果，不扣费；修改 `variation` 可有意付费重新生成。设置中的"
        "消费保护限制单次运行最多新建的付费任务数。"),
    "no_balance": Text(
        " HiDream reports no balance, so the node cannot show a price; check your HiDream account.",
        "HiDream 不返回余额，因此节点无法显示价格；请在 HiDream 账户中查看。"),
    "free": Text("Free: it fetches the results of tasks already paid for; no new task is created.",
                 "免费：取回已付费任务的结果，不新建任务。"),
    "local": Text("Free: it runs on this machine and sends nothing anywhere.", "免费：在本机运行，不发送任何数据。"),
}


def _definitions() -> dict[str, Any]:
    from .registry import node_classes

    return node_classes()


def _ops() -> dict[str, specs.Operation]:
    return {op.node_id: op for op in specs.OPERATIONS.values() if op.node_id}


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _values(spec: tuple, lang: str, labels: dict[str, str]) -> str:
    """The input's type, range and default, as a reader needs them."""
    kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
    word = WORDS
    if isinstance(kind, (list, tuple)):
        shown = " / ".join(labels.get(str(v), str(v)) for v in kind)
        default = labels.get(str(opts.get("default")), opts.get("default"))
        return f"{word['one_of'].get(lang)}: {shown} · {word['default'].get(lang)} {default}"
    if kind in ("INT", "FLOAT"):
        rng = f"{_num(opts.get('min'))}–{_num(opts.get('max'))}" if "min" in opts and "max" in opts else kind
        return f"{rng} · {word['default'].get(lang)} {_num(opts.get('default', 0))}"
    if kind == "BOOLEAN":
        return f"true / false · {word['default'].get(lang)} {str(bool(opts.get('default'))).lower()}"
    if kind == "STRING" and opts.get("forceInput"):
        return "STRING · " + (word["optional"] if opts.get("optional") else word["required"]).get(lang)
    if kind == "STRING":
        default = opts.get("default") or ""
        return word["text"].get(lang) + (f" · {word['default'].get(lang)} {default}" if default else "")
    return f"{kind} · " + (word["optional"] if opts.get("optional") else word["required"]).get(lang)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _recipes() -> dict[str, list[str]]:
    """Node type -> the example workflows that use it (committed example_workflows/*.json)."""
    used: dict[str, list[str]] = {}
    for path in sorted(EXAMPLES.glob("*.json")):
        for node in json.loads(path.read_text(encoding="utf-8")).get("nodes", []):
            names = used.setdefault(node.get("type", ""), [])
            if path.stem not in names:
                names.append(path.stem)
    return used


def page(node_id: str, lang: str, recipes: dict[str, list[str]] | None = None) -> str:
    """The help page of one node in `lang` ("en" or "zh")."""
    cls = _definitions()[node_id]
    op = _ops().get(node_id)
    defs = i18n.node_defs(lang)[node_id]
    labels = i18n.option_labels(lang).get(node_id, {})
    types = cls.INPUT_TYPES()
    category = " › ".join(i18n.local(i18n.CATEGORIES.get(s, Text(s, s)), lang) for s in cls.CATEGORY.split("/"))
    w = {k: v.get(lang) for k, v in WORDS.items()}
    lines = [f"# {defs['display_name']}", "", f"`{node_id}` · {category}", "", defs["description"], "",
             f"## {w['inputs']}", "", f"| {w['input']} | {w['what']} | {w['values']} |", "|---|---|---|"]
    for group in ("required", "optional"):
        for name, spec in types.get(group, {}).items():
            field = next((f for f in op.fields if f.name == name), None) if op else None
            what = i18n.local(field.tooltip, lang) if field is not None else defs["inputs"][name]["tooltip"]
            opts = dict(spec[1]) if len(spec) > 1 else {}
            if group == "optional":
                opts["optional"] = True
            shown = (spec[0], opts)
            lines.append(f"| **{defs['inputs'][name]['name']}** (`{name}`) | {_cell(what)} | "
                         f"{_cell(_values(shown, lang, labels.get(name, {})))} |")
    lines += ["", f"## {w['outputs']}", "", f"| {w['output']} | {w['type']} | {w['holds']} |", "|---|---|---|"]
    for i, (name, kind) in enumerate(zip(cls.RETURN_NAMES, cls.RETURN_TYPES, strict=True)):
        out = defs["outputs"][str(i)]
        lines.append(f"| **{out['name']}** (`{name}`) | {kind} | {_cell(out['tooltip'])} |")
    lines += ["", f"## {w['cost']}", "", _cost(node_id, op, lang), "", f"## {w['recipes']}", ""]
    names = (recipes if recipes is not None else _recipes()).get(node_id, [])
    lines += [f"- `{name}`: {RECIPES[name].get(lang) if name in RECIPES else name}" for name in names] or [w["none"]]
    if names:
        lines += ["", w["templates"]]
    text = "\n".join(lines)
    text = fullwidth(text) if lang == "zh" else text
    words = ("、" if lang == "zh" else ", ").join(aliases.for_node(node_id))  # verbatim: they are what one types
    return f"{text}\n\n## {w['search']}\n\n{words}\n"


def _cost(node_id: str, op: specs.Operation | None, lang: str) -> str:
    if op is None:
        return i18n.local(COST["local"], lang)
    if not op.paid:
        return i18n.local(COST["free"], lang)
    text = COST["paid"].get(lang).replace("{service}", specs.SERVICE_NAMES[op.service])
    if op.service == specs.HIDREAM:
        text += COST["no_balance"].get(lang)
    return text


def generate() -> dict[str, str]:
    """Relative path under web/docs -> page text, for every node, both languages and the fallback."""
    recipes = _recipes()
    out: dict[str, str] = {}
    for node_id in _definitions():
        for lang in i18n.LANGS:
            out[f"{node_id}/{lang}.md"] = page(node_id, lang, recipes)
        out[f"{node_id}.md"] = out[f"{node_id}/en.md"]
    return out


def write(root: Path = DOCS) -> None:
    for rel, text in generate().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(page(sys.argv[1] if len(sys.argv) > 1 else "HDRedraw_Redraw", sys.argv[2] if len(sys.argv) > 2 else "en"))
