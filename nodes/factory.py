"""ComfyUI V1 node classes generated from the operation specs.

Input names are the API's field names (the image input is `image`), widgets carry the documented ranges
and defaults, and outputs begin exactly as the node contract lists them.  Nothing about credentials is an
input, so no key can reach a workflow, a PNG or ComfyUI's history.
"""

from __future__ import annotations

from typing import Any

import torch

from ..engine import specs
from ..engine.operation import BOOL, CHOICE, FLOAT, INT, STRING, Field, Operation
from ..engine.text import Text
from . import tensors
from .output_kinds import OUT

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
    opts: dict[str, Any] = {"tooltip": f"{f.help('en')}\n{f.help('zh')}"}
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


def with_task_ids(names: tuple[str, ...]):
    """ComfyUI's entry point: `execute`'s outputs plus the task ids as UI data, so the front end can offer
    them (copy button) even when ComfyUI answers from its cache."""
    index = names.index("task_ids")

    async def run(self, **kwargs: Any) -> dict[str, Any]:
        result = await self.execute(**kwargs)
        return {"ui": {"task_ids": [t for t in result[index].splitlines() if t]}, "result": result}

    return run


def make_node(op: Operation) -> type:
    names = op.outputs

    async def execute(self, image: torch.Tensor, mask: torch.Tensor | None = None, unique_id: str | None = None,
                      variation: int = 0, **params: Any) -> tuple:
        from . import runner
        from .output_builders import build_outputs

        values = op.validate(params)  # free: nothing is sent when a value is wrong
        arrays = tensors.image_to_arrays(image, mask)
        sizes = [(a.shape[1], a.shape[0]) for a in arrays]
        results, ui = await runner.run_batch(op, arrays, values, unique_id, variation=int(variation))
        return build_outputs(names, results, ui, sizes)

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
