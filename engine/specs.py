"""The operations of both services, described once.

Every endpoint, field, range, default and bilingual label lives in the table
below (what a field or an operation is: `operation`).  Validation, the HTTP payloads, the ComfyUI node
inputs, the CLI options, the locale files and the README's node list are all
derived from it, so a change here is a change everywhere.
"""

from __future__ import annotations

from .errors import ValidationError
from .operation import (
    BOOL,
    CHOICE,
    FLOAT,
    HDREDRAW,
    HIDREAM,
    IMAGE,
    INT,
    MAX_VARIATION,
    SERVICE_NAMES,
    STRING,
    TASK_ID_RE,
    Choice,
    Field,
    Operation,
    ValidParams,
    check_http_url,
    check_task_id,
    check_variation,
)
from .text import Text

# --------------------------------------------------------------------------- fields

def _image(zh_what: str = "要处理的图像文件", en_what: str = "The image to process") -> Field:
    return Field("input_image", IMAGE, Text("image", "图像"), Text(en_what + ".", zh_what + "。"))


def _expand(side_en: str, side_zh: str, name: str) -> Field:
    return Field(
        name, FLOAT, Text(f"expand {side_en}", f"向{side_zh}扩图"),
        Text(f"Extend the image {side_en} by this fraction of its size (0.2 adds 20%).",
             f"向{side_zh}扩图比例(0.2 表示增加 20%)。"),
        required=False, default=0.0, min=0.0, max=0.3, step=0.01)


_COLOR_COUNT = Field(
    "color_count", INT, Text("color count", "颜色数量"),
    Text("Number of colours in the vector result. Vectorising suits flat artwork with few colours.",
         "矢量图颜色数量。矢量化适合颜色较少、线条简单的图形。"),
    required=False, default=5, min=2, max=16, step=1)

_EXPANDS = tuple(_expand(en, zh, f"expand_{en}") for en, zh in
                 (("top", "上"), ("bottom", "下"), ("left", "左"), ("right", "右")))

_TASK_ID = Field("task_id", STRING, Text("task id", "任务ID"),
                 Text("The task id returned when the task was submitted.", "提交任务时返回的任务ID。"))

ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3")

_CAT = "HD Redraw"

OPERATIONS: dict[str, Operation] = {op.id: op for op in (
    Operation(
        "redraw", HDREDRAW, "/api/submit_task", "HDRedraw_Redraw",
        Text("HD Redraw / Upscale", "高清重绘 / 放大"),
        Text("Redraws an image in high definition and upscales it; can also return an EPS vector "
             "and an auto-generated prompt.",
             "高清重绘并放大图像;可同时生成 EPS 矢量图和自动提示词。"),
        (
            Field("sdxl_model_dropdown", STRING, Text("model", "处理模型"),
                  Text("Processing model, as named by the service (e.g. 通用模型).",
                       "处理模型选择(例如:\"通用模型\")。"), default="通用模型"),
            Field("style_dropdown", STRING, Text("style", "处理风格"),
                  Text("Processing style, as named by the service (e.g. 通用风格).",
                       "处理风格选择(例如:\"通用风格\")。"), default="通用风格"),
            Field("upscale", FLOAT, Text("upscale", "放大倍数"),
                  Text("Upscale factor.", "图像放大倍数。"), default=1.0, min=1.0, max=8.0, step=0.5),
            Field("s_noise", FLOAT, Text("noise strength", "噪声强度"),
                  Text("Noise strength.", "噪声强度参数。"),
                  default=1.003, min=1.0, max=1.1, step=0.001),
            Field("steps", FLOAT, Text("steps", "采样步数"),
                  Text("Sampling steps; more is slower.", "采样步数(值越大越慢)。"),
                  default=30.0, min=20.0, max=40.0, step=1.0),
            Field("high_fidelity", BOOL, Text("high fidelity", "高保真"),
                  Text("Stay closer to the original image.", "开启/关闭高保真度处理。"), default=False),
            Field("strong_inpaint", BOOL, Text("strong inpaint", "强力修复"),
                  Text("Repair damaged areas more aggressively.", "开启/关闭强力修复功能。"), default=False),
            Field("strong_inpaint_intensity", FLOAT, Text("inpaint intensity", "强力修复强度"),
                  Text("Strength of strong inpaint.", "强力修复的强度。"),
                  required=False, default=0.5, min=0.0, max=1.0, step=0.01),
            Field("prompt", STRING, Text("prompt", "正面提示词"),
                  Text("Positive prompt (optional).", "图像生成的正面提示(可选)。"),
                  required=False, default="", multiline=True),
            Field("neg_prompt", STRING, Text("negative prompt", "负面提示词"),
                  Text("Negative prompt (optional).", "图像生成的负面提示(可选)。"),
                  required=False, default="", multiline=True),
            _image(),
            Field("vector_switch", BOOL, Text("also vectorize", "生成矢量图"),
                  Text("Also produce an EPS vector (suits flat artwork).", "是否生成矢量图(EPS)。"),
                  required=False, default=False),
            _COLOR_COUNT,
            Field("auto_generate_prompt", BOOL, Text("auto prompt", "自动生成提示词"),
                  Text("Let the service write a prompt; it is returned as generated_prompt.",
                       "是否自动生成提示词(结果中返回 generated_prompt)。"),
                  required=False, default=False),
        ),
        outputs=('image', 'generated_prompt', 'eps_path', 'mask', 'task_ids'),
        category=f"{_CAT}/Enhance"),
    Operation(
        "vectorize", HDREDRAW, "/api/submit_vector_task", "HDRedraw_Vectorize",
        Text("Vectorize (EPS)", "矢量图转换(EPS)"),
        Text("Converts a bitmap with few colours into an EPS vector. Not meant for photos.",
             "位图转矢量图(EPS),只适合颜色较少的图片,不适合真实照片。"),
        (_COLOR_COUNT, _image("要转换的位图文件", "The bitmap to convert")),
        outputs=('eps_path', 'preview', 'task_ids'),
        category=f"{_CAT}/Vector"),
    Operation(
        "face_enhance", HDREDRAW, "/api/submit_face_enhance_task", "HDRedraw_FaceEnhance",
        Text("Face Enhance", "人脸修复"),
        Text("Restores and enhances faces; frontal faces work best.", "人脸修复与增强,正面人脸效果最佳。"),
        (_image("要处理的人脸图像文件", "The face image to process"),),
        category=f"{_CAT}/Enhance"),
    Operation(
        "seamless", HDREDRAW, "/api/submit_seamless_task", "HDRedraw_Seamless",
        Text("Seamless Tile", "无缝拼图"),
        Text("Makes an image tile seamlessly; also returns a grid preview of the tiling and the 1x image.",
             "将图片处理成可无缝平铺的效果;同时返回平铺网格展示图和 1 倍图。"),
        (
            Field("fit", FLOAT, Text("seam blend", "接缝拼合度"),
                  Text("Seam blending: higher is smoother but loses detail; lower keeps detail "
                       "but may show seams.",
                       "接缝拼合度:值越大过渡越平滑但可能丢失细节;值越小保留细节越多但拼接处可能有痕迹。"),
                  required=False, default=0.5, min=0.1, max=0.9, step=0.05),
            Field("direction", CHOICE, Text("direction", "无缝方向"),
                  Text("Which edges must join: all sides (2x2 grid), top-bottom (1x2) or left-right (2x1).",
                       "无缝拼接方向:四周无缝(2x2 网格)、仅上下无缝(1x2)、仅左右无缝(2x1)。"),
                  required=False, default=0,
                  choices=(Choice(0, Text("all sides", "四周无缝")),
                           Choice(1, Text("top-bottom", "仅上下无缝")),
                           Choice(2, Text("left-right", "仅左右无缝")))),
            *_EXPANDS,
            _image(),
        ),
        outputs=('image', 'grid', 'image_1x', 'mask', 'task_ids'),
        category=f"{_CAT}/Pattern"),
    Operation(
        "remove_fabric", HDREDRAW, "/api/submit_remove_fabric_task", "HDRedraw_RemoveFabric",
        Text("Remove Fabric Texture", "移除布纹"),
        Text("Removes the fabric weave from a photographed print while keeping the whole pattern. "
             "Files up to 16 MB.", "移除图像中的布纹理,保留完整的图案。文件不超过 16MB。"),
        (_image(),), category=f"{_CAT}/Pattern"),
    Operation(
        "edit_image", HDREDRAW, "/api/submit_edit_image_task", "HDRedraw_EditImage",
        Text("AI Edit by Instruction", "AI 改图"),
        Text("Edits an image following a text instruction (style change, colours, add/remove elements). "
             "v2 gives higher quality.", "根据文本指令对图片进行 AI 编辑(风格转换、色彩调整、添加/移除元素等)。v2 质量更高。"),
        (
            Field("prompt", STRING, Text("instruction", "编辑指令"),
                  Text("What to change, e.g. \"turn this into a watercolour\".",
                       "AI 编辑指令(例如:\"将这张图片转换为水彩画风格\")。"), default="", multiline=True),
            Field("model_version", CHOICE, Text("model version", "模型版本"),
                  Text("v1 or v2 (v2: higher quality).", "模型版本(v1 或 v2,v2 效果更好)。"),
                  required=False, default="v1",
                  choices=(Choice("v1", Text("v1", "v1")), Choice("v2", Text("v2", "v2")))),
            _image("要编辑的图像文件", "The image to edit"),
        ),
        category=f"{_CAT}/Edit"),
    Operation(
        "extract_pattern", HDREDRAW, "/api/submit_extract_pattern_task", "HDRedraw_ExtractPattern",
        Text("Extract Print Pattern", "提取印花"),
        Text("Extracts the print from a garment photo as a repeatable pattern; may return several images.",
             "从服装图片中提取印花图案,生成可无缝拼接的图案;可能返回多张图片。"),
        (
            Field("aspect_ratio", CHOICE, Text("aspect ratio", "出图比例"),
                  Text("Aspect ratio of the result.", "出图比例。"), required=False, default="1:1",
                  choices=tuple(Choice(r, Text(r, r)) for r in ASPECT_RATIOS)),
            _image("要提取印花的服装图像文件", "The garment photo"),
        ),
        outputs=('images', 'mask', 'task_ids'),
        category=f"{_CAT}/Pattern"),
    Operation(
        "remove_diamonds", HDREDRAW, "/api/submit_remove_diamonds_task", "HDRedraw_RemoveDiamonds",
        Text("Remove Rhinestones", "移除烫钻"),
        Text("Removes rhinestones, hot-fix stones and glitter while keeping the pattern intact.",
             "移除图片中的水钻、烫钻和闪光装饰,保持图案完整。"),
        (_image(),), category=f"{_CAT}/Pattern"),
    Operation(
        "expand_image", HDREDRAW, "/api/submit_expand_image_task", "HDRedraw_ExpandImage",
        Text("Expand (Outpaint)", "扩图"),
        Text("Extends the image on any side (up to 30% each) with content in the original's style.",
             "在图片四周智能扩展(每边最多 30%),生成符合原图风格的内容。"),
        (*_EXPANDS,
         Field("prompt", STRING, Text("prompt", "提示词"),
               Text("Optional prompt guiding the new areas.", "AI 生成扩展部分的提示词(可选)。"),
               required=False, default="", multiline=True),
         _image()),
        category=f"{_CAT}/Edit"),
    Operation(
        "remove_watermark", HDREDRAW, "/api/submit_remove_watermark_task", "HDRedraw_RemoveWatermark",
        Text("Remove Watermark", "去水印"),
        Text("Removes watermarks from an image. Files up to 16 MB.", "智能移除图片中的水印。文件不超过 16MB。"),
        (_image(),), category=f"{_CAT}/Edit"),
    Operation(
        "check_task_status", HDREDRAW, "/api/check_task_status", "HDRedraw_FetchTask",
        Text("Fetch Task Result", "获取任务结果"),
        Text("Returns a finished task's results again, at no cost, from its task id.",
             "根据任务ID再次获取已完成任务的结果,不扣费。"),
        (_TASK_ID,), paid=False,
        outputs=('images', 'grid', 'eps_path', 'image_1x', 'svg', 'generated_prompt', 'mask', 'task_ids'),
        category=f"{_CAT}/Tasks"),
    Operation(
        "hidream_vectorize", HIDREAM, "/api-pub/gw/v2/image/img2svg/async", "HDRedraw_HiDreamVectorize",
        Text("HiDream Vectorize (SVG)", "HiDream 矢量图(SVG)"),
        Text("Converts an image to SVG with HiDream img2svg (fast: quick; slow: more precise).",
             "使用 HiDream img2svg 将图片转为 SVG(fast 速度快,slow 精度高)。"),
        (
            Field("image", IMAGE, Text("image", "图像"),
                  Text("The image to vectorize (sent as base64).", "待转矢量图的图片(以 base64 发送)。")),
            Field("mode", CHOICE, Text("mode", "生成模式"),
                  Text("fast: quicker; slow: higher precision, slower.", "fast 速度快;slow 精度高、速度慢。"),
                  default="slow", choices=(Choice("fast", Text("fast", "fast(快速)")),
                                           Choice("slow", Text("slow", "slow(高精度)")))),
            Field("notify_url", STRING, Text("notify url", "回调地址"),
                  Text("Optional public URL the service calls when the task completes.",
                       "任务完成回调通知接口(可选,需公网可访问)。"), required=False, default="",
                  omit_empty=True),
        ),
        outputs=('svg', 'svg_text', 'preview', 'mask', 'task_ids'),
        category=f"{_CAT}/HiDream", status_op="hidream_results"),
    Operation(
        "hidream_results", HIDREAM, "/api-pub/gw/v2/image/img2svg/async/results", "",
        Text("HiDream task results", "HiDream 任务结果"),
        Text("Progress and SVG result of a HiDream img2svg task.", "HiDream img2svg 任务的进度与 SVG 结果。"),
        (_TASK_ID,
         Field("request_id", STRING, Text("request id", "请求ID"),
               Text("Optional request id.", "可选的请求ID。"), required=False, default="", omit_empty=True)),
        method="GET", paid=False, category=f"{_CAT}/HiDream", status_op="hidream_results"),
)}



def get(op_id: str) -> Operation:
    """The operation with this id (also accepts its node id or endpoint name)."""
    if op_id in OPERATIONS:
        return OPERATIONS[op_id]
    for op in OPERATIONS.values():
        if op_id in (op.node_id, op.endpoint.rsplit("/", 1)[-1]):
            return op
    raise ValidationError(
        f"Unknown operation '{op_id}'. Known: {', '.join(OPERATIONS)}.",
        f"未知的操作 '{op_id}'。可用:{', '.join(OPERATIONS)}。")


def paid_operations() -> list[Operation]:
    return [op for op in OPERATIONS.values() if op.paid]


def by_endpoint(service: str, path: str) -> Operation | None:
    for op in OPERATIONS.values():
        if op.service == service and op.endpoint == path:
            return op
    return None


__all__ = ["Text", "Choice", "Field", "Operation", "ValidParams", "OPERATIONS", "get", "paid_operations",
           "by_endpoint", "HDREDRAW", "HIDREAM", "SERVICE_NAMES", "ASPECT_RATIOS", "BOOL", "CHOICE", "FLOAT", "IMAGE",
           "INT", "STRING", "MAX_VARIATION", "TASK_ID_RE", "check_http_url", "check_task_id", "check_variation"]
