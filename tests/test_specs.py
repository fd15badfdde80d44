"""The operation table matches the API docs and validates before anything is sent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hdredraw.engine import specs
from hdredraw.engine.errors import ValidationError

DOCS = Path(__file__).resolve().parents[2] / "shared" / "api"


def documented_fields() -> dict[str, list[str]]:
    """endpoint -> parameter names, read from the Chinese HD Redraw doc."""
    text = (DOCS / "hd-redraw-api.zh.txt").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for block in re.split(r"\n端点\n", text)[1:]:
        endpoint = re.match(r"POST (\S+)", block).group(1)
        params = block.split("\n响应", 1)[0]
        out[endpoint] = re.findall(r"^\| ([a-z_0-9]+) \|$", params, flags=re.M)
    return out


@pytest.mark.skipif(not DOCS.exists(), reason="API docs not beside the checkout")
def test_every_documented_endpoint_and_field_is_specified():
    documented = documented_fields()
    assert len(documented) == 11
    for endpoint, names in documented.items():
        op = specs.by_endpoint(specs.HDREDRAW, endpoint)
        assert op is not None, endpoint
        assert sorted(f.name for f in op.fields) == sorted(n for n in names if n != "user_key"), endpoint


@pytest.mark.skipif(not DOCS.exists(), reason="API docs not beside the checkout")
def test_documented_ranges_match():
    text = (DOCS / "hd-redraw-api.zh.txt").read_text(encoding="utf-8")
    for op in specs.OPERATIONS.values():
        for f in op.params:
            if f.min is None:
                continue
            m = re.search(rf"^\| {f.name} \|\n[^\n]*\n[^\n]*\n[^\n]*?\(?([\d.]+)-([\d.]+)", text, flags=re.M)
            assert m, f.name
            assert (float(m.group(1)), float(m.group(2))) == (f.min, f.max), f.name


def test_hidream_operations():
    submit = specs.get("hidream_vectorize")
    assert submit.endpoint == "/api-pub/gw/v2/image/img2svg/async"
    assert submit.field("mode").choice_values() == ["fast", "slow"]
    assert specs.get("hidream_results").endpoint.endswith("/img2svg/async/results")
    assert submit.status_op == "hidream_results"


def test_node_ids_are_stable():
    ids = {op.id: op.node_id for op in specs.OPERATIONS.values() if op.node_id}
    assert ids == {
        "redraw": "HDRedraw_Redraw", "vectorize": "HDRedraw_Vectorize", "face_enhance": "HDRedraw_FaceEnhance",
        "seamless": "HDRedraw_Seamless", "remove_fabric": "HDRedraw_RemoveFabric",
        "edit_image": "HDRedraw_EditImage", "extract_pattern": "HDRedraw_ExtractPattern",
        "remove_diamonds": "HDRedraw_RemoveDiamonds", "expand_image": "HDRedraw_ExpandImage",
        "remove_watermark": "HDRedraw_RemoveWatermark", "check_task_status": "HDRedraw_FetchTask",
        "hidream_vectorize": "HDRedraw_HiDreamVectorize"}


def test_defaults_fill_in_and_wire_format():
    op = specs.get("redraw")
    values = op.validate({})
    wire = op.wire_fields(values)
    assert wire["upscale"] == "1" and wire["s_noise"] == "1.003" and wire["steps"] == "30"
    assert wire["high_fidelity"] == "false" and wire["vector_switch"] == "false"
    assert wire["sdxl_model_dropdown"] == "通用模型" and wire["color_count"] == "5"
    assert "input_image" not in wire


@pytest.mark.parametrize("op_id,name,bad", [
    ("redraw", "upscale", 8.5), ("redraw", "upscale", 0.5), ("redraw", "s_noise", 1.2), ("redraw", "steps", 41),
    ("redraw", "color_count", 17), ("redraw", "strong_inpaint_intensity", -0.1), ("vectorize", "color_count", 1),
    ("seamless", "fit", 0.95), ("seamless", "expand_top", 0.31), ("expand_image", "expand_left", 0.5),
    ("seamless", "direction", 3), ("edit_image", "model_version", "v3"), ("extract_pattern", "aspect_ratio", "5:7"),
    ("hidream_vectorize", "mode", "medium"), ("redraw", "upscale", float("nan")), ("redraw", "steps", "many"),
    ("redraw", "color_count", 2.5), ("redraw", "high_fidelity", "perhaps"),
])
def test_out_of_range_is_rejected_locally(op_id, name, bad):
    values = {"prompt": "make it blue"} if op_id == "edit_image" else {}
    with pytest.raises(ValidationError) as info:
        specs.get(op_id).validate({**values, name: bad})
    assert info.value.field == name
    assert name in info.value.en and name in info.value.zh
    assert info.value.free


def test_missing_required_instruction_and_unknown_field():
    with pytest.raises(ValidationError, match="prompt"):
        specs.get("edit_image").validate({"prompt": "   "})
    with pytest.raises(ValidationError, match="upscale"):
        specs.get("face_enhance").validate({"upscale": 2})


def test_choice_accepts_labels_in_both_languages():
    direction = specs.get("seamless").field("direction")
    assert direction.coerce("top-bottom") == 1
    assert direction.coerce("仅左右无缝") == 2
    assert direction.coerce("0") == 0


def test_every_field_has_bilingual_text():
    for op in specs.OPERATIONS.values():
        assert op.title.en and op.title.zh and op.description.en and op.description.zh
        for f in op.fields:
            assert f.label.en and f.label.zh and f.tooltip.en and f.tooltip.zh, (op.id, f.name)


def test_required_instruction_has_no_silent_default():
    with pytest.raises(ValidationError, match="prompt"):
        specs.get("edit_image").validate({})


def test_ranges_are_stated_once_and_rendered_into_tooltips():
    """A range lives in the field's min/max only; tooltips get it when they are rendered."""
    import re

    for op in specs.OPERATIONS.values():
        for f in op.params:
            for text in (f.tooltip.en, f.tooltip.zh):
                assert not re.search(r"\d\s*[-–]\s*\d", text), (op.id, f.name, text)
            if f.min is not None and f.max is not None:
                assert f"{f.max:g}" in f.help("en") and f"{f.max:g}" in f.help("zh")
