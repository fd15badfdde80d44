"""ComfyUI V1 node classes generated from the operation specs.

Input names are the API's field names (the image input is `image`), widgets carry the documented ranges
and defaults, and outputs begin exactly as the node contract lists them.  Nothing about credentials is an
input, so no key can reach a workflow, a PNG or ComfyUI's history.
"""

from __future__ import annotations

from typing import Any

import torch

from ..engine import errors, specs
from ..engine.specs import BOOL, CHOICE, FLOAT, INT, STRING, Field, Operation, Text
from . import tensors
from .contract import NOTE_PADDED, OUT

# What each node returns, in order (the contract's outputs first, extras after).
NODE_OUTPUTS: dict[str, tuple[str, ...]] = {
    "redraw": ("image", "generated_prompt", "eps_path", "mask", "task_ids"),
    "vectorize": ("eps_path", "preview", "task_ids"),
    "seamless": ("image", "grid", "image_1x", "mask", "task_ids"),
    "extract_pattern": ("images", "mask", "task_ids"),
    "hidream_vectorize": ("svg", "svg_text", "preview", "mask", "task_ids"),
}
DEFAULT_OUTPUTS = ("image", "mask", "task_ids")

VARIATION_TIP = Text(
    "Same image and settings reuse the recorded result (no charge). Change this number to pay for a fresh "
    "result on purpose.", "相同图片和参数会复用已记录的结果(不扣费)。修改此数字可有意重新生成(会扣费)。")
VARIATION = ("INT", {"default": 0, "min": 0, "max": 2**31 - 1, "step": 1, "tooltip": f"{VARIATION_TIP.en}\n"
                                                                                      f"{VARIATION_TIP.zh}"})

MASK_INPUT_TIP = Text("Optional transparency to upload with the image (1 = transparent, as LoadImage's MASK).",
                      "可选:随图片上传的透明度(1 = 透明,与 LoadImage 的 MASK 一致)。")


def both(text: Text) -> str:
    return f"{text.en}\n{text.zh}"


def widget(f: Field) -> tuple:
    """The ComfyUI input definition for one spec field."""
    opts: dict[str, Any] = {"tooltip": both(f.tooltip)}
    if f.kind in (FLOAT, INT):
        opts.update(default=f.default, min=f.min, max=f.max, step=f.step)
        if f.kind == FLOAT:
            opts["round"] = f.step
        return ("FLOAT" if f.kind == FLOAT else "INT", opts)
    if f.kind == BOOL:
        return ("BOOLEAN", {**opts, "default": bool(f.default)})
    if f.kind == CHOICE:
        labels = [c.label.en for c in f.choices]
        default = next(c.label.en for c in f.choices if c.value == f.default)
        return (labels, {**opts, "default": default})
    if f.kind == STRING:
        return ("STRING", {**opts, "default": f.default or "", "multiline": f.multiline})
    raise ValueError(f.kind)


def input_types(op: Operation) -> dict[str, Any]:
    required: dict[str, Any] = {"image": ("IMAGE", {"tooltip": both(op.image_field.tooltip)})}
    for f in op.params:
        required[f.name] = widget(f)
    required["variation"] = VARIATION
    return {"required": required,
            "optional": {"mask": ("MASK", {"tooltip": both(MASK_INPUT_TIP)})},
            "hidden": {"unique_id": "UNIQUE_ID"}}


def build_outputs(op: Operation, names: tuple[str, ...], results: list, ui: Any,
                  input_sizes: list[tuple[int, int]]) -> tuple:
    """Compute each requested output from the batch's results."""
    from . import outputs

    lang = errors.preferred_language()
    cache: dict[str, Any] = {}

    def safe_svgs() -> list[list[bytes]]:  # every SVG output and preview uses the sanitized documents
        if "svgs" not in cache:
            cache["svgs"] = outputs.safe_svgs(results)
        return cache["svgs"]

    def main_images() -> tuple[torch.Tensor, torch.Tensor]:
        if "main" not in cache:
            blobs = [b for r in results for b in (r.images if op.id in ("extract_pattern",) else r.images[:1])]
            if not blobs and any(r.svgs for r in results):  # HiDream tasks: their SVGs, rendered
                rendered = outputs.render_svgs([d for ds in safe_svgs() for d in ds])
                image, mask, padded = tensors.arrays_to_image(rendered)
            elif not blobs:
                ui.note(Text("These results have no images; that output shows a placeholder.",
                             "这些结果没有图像,该输出为占位图。").get(lang))
                image, mask, padded = tensors.arrays_to_image([outputs.placeholder()])
            else:
                image, mask, padded = outputs.stack(blobs)
            if padded:
                ui.note(NOTE_PADDED.get(lang))
            cache["main"] = (image, mask)
        return cache["main"]

    def one_of(attr: str) -> torch.Tensor:
        blobs = [getattr(r, attr) for r in results if getattr(r, attr)]
        if not blobs:
            ui.note(Text(f"These results have no {attr}; that output shows a placeholder.",
                         f"这些结果没有 {attr},该输出为占位图。").get(lang))
            return tensors.arrays_to_image([outputs.placeholder()])[0]
        return outputs.stack(blobs)[0]

    def preview() -> torch.Tensor:
        if op.id == "hidream_vectorize":
            arrays = outputs.render_svgs([ds[0] for ds in safe_svgs()], [(w, 0) for w, _ in input_sizes])
            image, mask, _ = tensors.arrays_to_image(arrays)
            cache["preview_mask"] = mask
            return image
        arrays = []
        for r in results:
            if r.images:
                arrays.append(outputs.codecs.decode_image(r.images[0]))
                continue
            local = outputs.render_eps(r.vector) if r.vector else None
            if local is None:
                ui.note(Text("No preview: the service sent none and Ghostscript is not installed to render the "
                             "EPS. The EPS file itself is complete.",
                             "无预览:服务未返回预览图,且未安装 Ghostscript 无法本地渲染 EPS。EPS 文件本身完整。").get(lang))
                local = outputs.placeholder()
            arrays.append(local)
        return tensors.arrays_to_image(arrays)[0]

    values: list[Any] = []
    for name in names:
        if name in ("image", "images"):
            values.append(main_images()[0])
        elif name == "mask":
            values.append(cache["preview_mask"] if op.id == "hidream_vectorize" and "preview_mask" in cache
                          else main_images()[1])
        elif name == "grid":
            values.append(one_of("grid"))
        elif name == "image_1x":
            values.append(one_of("image_1x"))
        elif name == "generated_prompt":
            values.append("\n".join(r.prompt for r in results))
        elif name == "eps_path":
            values.append("\n".join(outputs.save_eps(r) for r in results if r.vector))
        elif name == "preview":
            values.append(preview())
        elif name == "task_ids":
            values.append("\n".join(r.task_id for r in results))
        elif name == "svg":
            values.append(outputs.svg_object([d for ds in safe_svgs() for d in ds]))
        elif name == "svg_text":
            values.append("\n".join(d.decode("utf-8") for ds in safe_svgs() for d in ds))
        else:
            raise KeyError(name)
    return tuple(values)


def with_task_ids(names: tuple[str, ...]):
    """ComfyUI's entry point: `execute`'s outputs plus the task ids as UI data, so the front end can offer
    them (copy button) even when ComfyUI answers from its cache."""
    index = names.index("task_ids")

    async def run(self, **kwargs: Any) -> dict[str, Any]:
        result = await self.execute(**kwargs)
        return {"ui": {"task_ids": [t for t in result[index].splitlines() if t]}, "result": result}

    return run


def make_node(op: Operation) -> type:
    names = NODE_OUTPUTS.get(op.id, DEFAULT_OUTPUTS)

    async def execute(self, image: torch.Tensor, mask: torch.Tensor | None = None, unique_id: str | None = None,
                      variation: int = 0, **params: Any) -> tuple:
        from . import runner

        values = op.validate(params)  # free: nothing is sent when a value is wrong
        arrays = tensors.image_to_arrays(image, mask)
        sizes = [(a.shape[1], a.shape[0]) for a in arrays]
        results, ui = await runner.run_batch(op, arrays, values, unique_id, variation=int(variation))
        return build_outputs(op, names, results, ui, sizes)

    attrs = {
        "DESCRIPTION": both(op.description),
        "CATEGORY": op.category,
        "FUNCTION": "run",
        "run": with_task_ids(names),
        "RETURN_TYPES": tuple(OUT[n].type for n in names),
        "RETURN_NAMES": names,
        "OUTPUT_TOOLTIPS": tuple(both(OUT[n].tooltip) for n in names),
        "INPUT_TYPES": classmethod(lambda cls: input_types(op)),
        "execute": execute,
        "OPERATION": op.id,
        # Vectorize saves an EPS file itself, so it runs even with nothing connected after it.
        "OUTPUT_NODE": op.id == "vectorize",
        "__doc__": op.description.en,
    }
    return type(op.node_id, (), attrs)


def operation_nodes() -> dict[str, type]:
    return {op.node_id: make_node(op) for op in specs.paid_operations()}
