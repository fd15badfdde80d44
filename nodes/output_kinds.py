"""What nodes return: output names, types and tooltips, and ComfyUI's SVG type.

Kept free of heavy imports so the pack registers its nodes quickly; the work happens in `outputs`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from ..engine.text import Text


class SVG:
    """ComfyUI's SVG type: `.data` is a list of BytesIO, one per document (core SaveSVG accepts it)."""

    def __init__(self, data: list[io.BytesIO]):
        self.data = data

    def combine(self, other: SVG) -> SVG:
        return SVG(self.data + other.data)

    @staticmethod
    def combine_all(svgs: list[SVG]) -> SVG:
        return SVG([d for s in svgs for d in s.data])


@dataclass(frozen=True)
class Output:
    name: str
    type: str
    tooltip: Text


OUT = {o.name: o for o in (
    Output("image", "IMAGE", Text("The result (RGB); transparency is in mask.", "结果图像(RGB);透明度在 mask 中。")),
    Output("images", "IMAGE", Text("All result images, in input order.", "全部结果图像,按输入顺序。")),
    Output("grid", "IMAGE", Text("Tiling preview grid.", "平铺效果网格图。")),
    Output("image_1x", "IMAGE", Text("The seamless tile at 1x size.", "1 倍尺寸的无缝图。")),
    Output("generated_prompt", "STRING", Text("The prompt the service wrote (auto prompt).", "服务自动生成的提示词。")),
    Output("eps_path", "STRING", Text("Path(s) of the saved EPS file(s) under output/hdredraw/, one per line.",
                                      "已保存的 EPS 文件路径(output/hdredraw/ 下,每行一个)。")),
    Output("preview", "IMAGE", Text("Raster preview of the vector result.", "矢量结果的位图预览。")),
    Output("mask", "MASK", Text("1 − alpha (LoadImage convention); padding of smaller results is masked.",
                                "1 − alpha(与 LoadImage 一致);尺寸较小结果的填充区域为遮罩。")),
    Output("task_ids", "STRING", Text("Task id(s), one per line; Fetch Task returns their results again for free.",
                                      "任务ID(每行一个);“获取任务结果”可免费再次取回。")),
    Output("svg", "SVG", Text("SVG document(s); connect to Save SVG or Render SVG.", "SVG 文档;可连接“保存 SVG”或“渲染 SVG”。")),
    Output("svg_text", "STRING", Text("The SVG markup.", "SVG 源码。")),
    Output("journal", "STRING", Text("Recent tasks in the journal (operation, status, age, task id).",
                                      "任务记录中的最近任务(操作、状态、时间、任务ID)。")),
)}

NOTE_PADDED = Text("Results differ in size: smaller ones are padded (top-left) and the padding is masked.",
                   "结果尺寸不一:较小的结果已在右下方填充,填充区域在 mask 中标记。")
