"""Search words for every node, in English and Chinese (ComfyUI's `SEARCH_ALIASES`).

Why: designers search for the job, often in Chinese ("去水印", "印花"), not for the node's name.  Each node's
aliases are its titles in both languages (from the specs) plus the words below.  ComfyUI sends
`SEARCH_ALIASES` to the front end in releases after 0.8.0; for older back ends the pack's web extension adds
the same list to its node definitions (it reads them from the locale files, `hdredraw.aliases`), and the help
pages list them, so all three are generated from here and checked for drift.
"""

from __future__ import annotations

from .titles import title
from .zh import fullwidth

WORDS: dict[str, tuple[str, ...]] = {
    "HDRedraw_Redraw": ("upscale", "enhance", "super resolution", "sharpen", "hd", "redraw",
                        "高清", "放大", "超分", "重绘", "变清晰", "高清修复"),
    "HDRedraw_Vectorize": ("vector", "vectorize", "eps", "trace", "logo",
                           "矢量", "矢量图", "转矢量", "位图转矢量", "描图"),
    "HDRedraw_FaceEnhance": ("face", "portrait", "restore", "old photo",
                             "人脸", "人像", "人脸修复", "老照片"),
    "HDRedraw_Seamless": ("seamless", "tile", "tiling", "repeat", "pattern repeat",
                          "无缝", "平铺", "四方连续", "循环图案", "接回头"),
    "HDRedraw_RemoveFabric": ("fabric", "weave", "texture", "cloth", "textile",
                              "布纹", "去布纹", "织纹", "面料纹理"),
    "HDRedraw_EditImage": ("edit", "instruction", "ai edit", "restyle", "recolor",
                           "改图", "编辑", "指令", "换风格", "换颜色"),
    "HDRedraw_ExtractPattern": ("print", "pattern", "extract", "garment", "textile print",
                                "印花", "提取印花", "图案", "花型", "服装"),
    "HDRedraw_RemoveDiamonds": ("rhinestone", "diamond", "hotfix", "glitter", "sequin",
                                "烫钻", "水钻", "去钻", "闪片"),
    "HDRedraw_ExpandImage": ("outpaint", "expand", "extend", "uncrop", "widen",
                             "扩图", "扩展", "外扩", "延展画面"),
    "HDRedraw_RemoveWatermark": ("watermark", "remove text", "clean",
                                 "去水印", "水印", "去字"),
    "HDRedraw_FetchTask": ("fetch", "task id", "download again", "result",
                           "任务", "取回", "获取结果", "任务ID"),
    "HDRedraw_HiDreamVectorize": ("svg", "vector", "vectorize", "img2svg", "hidream",
                                  "矢量", "矢量图", "转 SVG"),
    "HDRedraw_RenderSVG": ("svg", "render", "rasterize", "svg to png",
                           "渲染", "栅格化", "矢量转位图"),
}

# Chinese words a designer types, each of which must find at least one node (the list).
MUST_FIND = ("高清", "放大", "矢量", "无缝", "去水印", "布纹", "烫钻", "扩图", "印花")


def titles(node_id: str) -> tuple[str, ...]:
    """The node's display names in both languages."""
    text = title(node_id)
    return (text.en, fullwidth(text.zh))


def for_node(node_id: str) -> list[str]:
    """SEARCH_ALIASES for one node: its titles and search words, each once, in a stable order."""
    return list(dict.fromkeys([*titles(node_id), *WORDS.get(node_id, ())]))
