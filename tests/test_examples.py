"""The example workflows in example_workflows/ load in ComfyUI's front end and match the nodes.

Each file is checked against the node definitions (ours from NODE_CLASS_MAPPINGS, ComfyUI's core nodes from
tests/data/core_nodes.json): node types, sockets, links and their types, widget values (count, order, type,
range), its .jpg thumbnail, and that nothing in it looks like a credential.  The files must also be exactly
what tools/make_examples.py generates.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")  # the node classes need torch

from hdredraw import nodes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_workflows"
CORE = json.loads((ROOT / "tests" / "data" / "core_nodes.json").read_text(encoding="utf-8"))["nodes"]
WORKFLOWS = sorted(EXAMPLES.glob("*.json"))
RECIPES = ("garment_to_vector", "old_photo_restore", "product_shot_16x9", "local_upscale_then_redraw",
           "scale_then_redraw", "print_on_mockup", "svg_print_blend")
# Recipes where pack nodes are fed by and feed ComfyUI's own (local) image nodes, not only Load and Save.
MIXED = ("local_upscale_then_redraw", "scale_then_redraw", "print_on_mockup", "svg_print_blend")
PLUMBING = {"LoadImage", "SaveImage", "PreviewImage", "SaveSVGNode", "Note", "MarkdownNote"}
FRONTEND_ONLY = {"Note", "MarkdownNote"}  # virtual nodes with one text widget
WIDGET_KINDS = ("INT", "FLOAT", "BOOLEAN", "STRING")
FORBIDDEN = ("user_key", "token", "bearer", "emulator-key", "api_key", "apikey", "api-key", "secret", "password",
             "authorization")
KEY_LIKE = re.compile(r"[A-Za-z0-9+/_]{32,}|\bsk-[A-Za-z0-9]{12,}")


def _definition(inputs: dict[str, Any], outputs: list[str], names: list[str]) -> dict[str, Any]:
    sockets, widgets = [], []
    for section in ("required", "optional"):
        for name, spec in (inputs.get(section) or {}).items():
            kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, (list, tuple)) or (kind in WIDGET_KINDS and not opts.get("forceInput")):
                widgets.append((name, kind, opts))
            else:
                sockets.append((name, kind, section == "optional"))
    return {"sockets": sockets, "widgets": widgets, "outputs": list(zip(names, outputs, strict=True)),
            "hidden": list(inputs.get("hidden") or {})}


def _definitions() -> dict[str, dict[str, Any]]:
    defs = {}
    for node_type, cls in nodes.NODE_CLASS_MAPPINGS.items():
        defs[node_type] = _definition(cls.INPUT_TYPES(), list(cls.RETURN_TYPES),
                                      list(getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES))
    for node_type, d in CORE.items():
        defs[node_type] = _definition(d["input"], d["output"], d["output_name"])
    return defs


DEFS = _definitions()


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.fixture(params=WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def workflow(request) -> tuple[str, dict[str, Any]]:
    return request.param.stem, _load(request.param)


def test_there_are_examples():
    assert len(WORKFLOWS) >= len(nodes.NODE_CLASS_MAPPINGS) + len(RECIPES)
    assert all(re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", p.stem) for p in WORKFLOWS)  # snake_case names
    assert sorted(p.stem for p in EXAMPLES.glob("*.jpg")) == [p.stem for p in WORKFLOWS]  # no stray thumbnail


def test_thumbnail(workflow):
    from PIL import Image

    name, _ = workflow
    jpg = EXAMPLES / f"{name}.jpg"  # the front end only shows .jpg thumbnails
    assert jpg.is_file()
    with Image.open(jpg) as im:
        assert im.format == "JPEG"
        assert im.size[0] >= 256 and im.size[1] >= 192
        im.verify()


def test_workflow_format(workflow):
    _, wf = workflow
    assert str(uuid.UUID(wf["id"])) == wf["id"]  # the front end requires a UUID here
    assert wf["revision"] == 0 and wf["version"] == 0.4
    assert wf["groups"] == [] and isinstance(wf["config"], dict)
    ds = wf["extra"]["ds"]
    assert ds["scale"] > 0 and len(ds["offset"]) == 2
    ids = [n["id"] for n in wf["nodes"]]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    assert wf["last_node_id"] >= max(ids)
    link_ids = [link[0] for link in wf["links"]]
    assert len(set(link_ids)) == len(link_ids)
    assert wf["last_link_id"] >= max(link_ids, default=0)
    assert sorted(n["order"] for n in wf["nodes"]) == list(range(len(ids)))
    for n in wf["nodes"]:
        assert n["mode"] == 0 and n["flags"] == {}
        assert len(n["pos"]) == 2 and len(n["size"]) == 2 and min(n["size"]) > 0
        assert isinstance(n["inputs"], list) and isinstance(n["outputs"], list)
        assert isinstance(n["widgets_values"], list)
        if n["type"] not in FRONTEND_ONLY:
            assert n["properties"]["Node name for S&R"] == n["type"]


def test_node_types_exist(workflow):
    _, wf = workflow
    for n in wf["nodes"]:
        assert n["type"] in nodes.NODE_CLASS_MAPPINGS or n["type"] in CORE or n["type"] in FRONTEND_ONLY, n["type"]


def test_sockets_match_definitions(workflow):
    _, wf = workflow
    for n in wf["nodes"]:
        d = DEFS.get(n["type"])
        if d is None:  # MarkdownNote
            assert n["inputs"] == [] and n["outputs"] == []
            continue
        assert [(i["name"], i["type"]) for i in n["inputs"]] == [(s[0], s[1]) for s in d["sockets"]], n["type"]
        for i, (_, _, optional) in zip(n["inputs"], d["sockets"], strict=True):
            assert (i.get("shape") == 7) == optional  # optional inputs are drawn hollow
            assert "widget" not in i  # no widget is converted to a socket
            if not optional:
                assert i["link"] is not None, f"{n['type']}.{i['name']} must be connected"
        assert [(o["name"], o["type"]) for o in n["outputs"]] == d["outputs"], n["type"]
        assert [o["slot_index"] for o in n["outputs"]] == list(range(len(d["outputs"])))
        names = {i["name"] for i in n["inputs"]}
        assert not names & set(d["hidden"])  # hidden inputs are never slots


def test_links(workflow):
    _, wf = workflow
    by_id = {n["id"]: n for n in wf["nodes"]}
    for link_id, origin, origin_slot, target, target_slot, link_type in wf["links"]:
        src, dst = by_id[origin], by_id[target]
        out = src["outputs"][origin_slot]
        assert out["type"] == link_type == DEFS[src["type"]]["outputs"][origin_slot][1]
        assert link_id in out["links"]
        inp = dst["inputs"][target_slot]
        assert inp["link"] == link_id
        assert inp["type"] == link_type == DEFS[dst["type"]]["sockets"][target_slot][1]
        assert src["order"] < dst["order"]  # execution order follows the links
    links = {link[0]: link for link in wf["links"]}
    for n in wf["nodes"]:  # and every link a node mentions exists, with this node at the right end
        for slot, o in enumerate(n["outputs"]):
            for link_id in o["links"] or []:
                assert links[link_id][1:3] == [n["id"], slot]
        for slot, i in enumerate(n["inputs"]):
            if i["link"] is not None:
                assert links[i["link"]][3:5] == [n["id"], slot]


def _check_widget(node_type: str, name: str, kind: Any, opts: dict[str, Any], value: Any) -> None:
    where = f"{node_type}.{name} = {value!r}"
    if isinstance(kind, (list, tuple)):
        assert value in kind, where
        return
    if kind == "INT":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "FLOAT":
        assert isinstance(value, (int, float)) and not isinstance(value, bool), where
        if opts.get("round"):  # the front end rounds to this
            assert abs(value / opts["round"] - round(value / opts["round"])) < 1e-6, where
    elif kind == "BOOLEAN":
        assert isinstance(value, bool), where
    elif kind == "STRING":
        assert isinstance(value, str), where
    if kind in ("INT", "FLOAT"):
        assert opts.get("min", value) <= value <= opts.get("max", value), where


def test_widget_values_fit_the_widgets(workflow):
    _, wf = workflow
    for n in wf["nodes"]:
        values = n["widgets_values"]
        d = DEFS.get(n["type"])
        if d is None:  # MarkdownNote
            assert len(values) == 1 and isinstance(values[0], str)
            continue
        expected: list[tuple[str, Any, dict]] = []
        for name, kind, opts in d["widgets"]:
            expected.append((name, kind, opts))
            if opts.get("image_upload"):  # LoadImage: the upload button stores "image" after the file name
                expected.append(("upload", ["image"], {}))
        assert len(values) == len(expected), f"{n['type']}: {values}"
        for (name, kind, opts), value in zip(expected, values, strict=True):
            _check_widget(n["type"], name, kind, opts, value)


def test_nothing_looks_like_a_credential(workflow):
    name, wf = workflow
    text = (EXAMPLES / f"{name}.json").read_text(encoding="utf-8").lower()
    for word in FORBIDDEN:
        assert word not in text, word
    for s in _strings(wf):
        assert not KEY_LIKE.search(s), s


def test_widget_values_pass_the_operations_own_validation(workflow):
    """Running an example sends a valid request (Fetch Task's empty task id is left for the user on purpose)."""
    from hdredraw.engine import specs

    _, wf = workflow
    for n in wf["nodes"]:
        op_id = getattr(nodes.NODE_CLASS_MAPPINGS.get(n["type"]), "OPERATION", None)
        if op_id is None:
            continue
        values = _widgets(n["type"], n)
        values.pop("variation")
        specs.get(op_id).validate(values)


def test_nodes_take_no_credentials():
    for node_type, d in DEFS.items():
        for name in [s[0] for s in d["sockets"]] + [w[0] for w in d["widgets"]]:
            assert not re.search(r"key|token|secret|password|auth", name, re.I), f"{node_type}.{name}"


def test_save_nodes_write_under_hdredraw():
    for path in WORKFLOWS:
        for n in _load(path)["nodes"]:
            if n["type"] in ("SaveImage", "SaveSVGNode"):
                assert n["widgets_values"][0].startswith("hdredraw/"), path.name


def test_every_node_has_an_example():
    used: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for n in _load(path)["nodes"]:
            used.setdefault(n["type"], set()).add(path.stem)
    missing = sorted(set(nodes.NODE_CLASS_MAPPINGS) - set(used))
    assert missing == []
    # and each node has a workflow of its own, apart from the recipes
    alone = {t for t, files in used.items() if set(files) - set(RECIPES)}
    assert set(nodes.NODE_CLASS_MAPPINGS) <= alone


def _types(name: str) -> list[str]:
    return [n["type"] for n in _load(EXAMPLES / f"{name}.json")["nodes"]]


def _widgets(node_type: str, node: dict[str, Any]) -> dict[str, Any]:
    return dict(zip([w[0] for w in DEFS[node_type]["widgets"]], node["widgets_values"], strict=True))


def test_recipes():
    for name in RECIPES:
        assert (EXAMPLES / f"{name}.json").is_file(), name
    garment = _types("garment_to_vector")
    for t in ("HDRedraw_ExtractPattern", "HDRedraw_RemoveFabric", "HDRedraw_Seamless", "HDRedraw_Vectorize",
              "HDRedraw_HiDreamVectorize", "SaveImage", "SaveSVGNode"):
        assert t in garment, t
    old = [n for n in _load(EXAMPLES / "old_photo_restore.json")["nodes"] if n["type"] == "HDRedraw_Redraw"]
    assert [_widgets("HDRedraw_Redraw", n)["upscale"] for n in old] == [2.0, 2.0]
    assert "HDRedraw_FaceEnhance" in _types("old_photo_restore")
    product = _load(EXAMPLES / "product_shot_16x9.json")["nodes"]
    expand = _widgets("HDRedraw_ExpandImage", next(n for n in product if n["type"] == "HDRedraw_ExpandImage"))
    ratio = 1 + expand["expand_left"] + expand["expand_right"]  # width of a 1:1 image afterwards
    assert 1.5 <= ratio <= 16 / 9 and expand["expand_top"] == expand["expand_bottom"] == 0
    assert "HDRedraw_RemoveWatermark" in [n["type"] for n in product]
    assert any(n["type"] == "Note" and "16:9" in n["widgets_values"][0] for n in product)


def test_fetch_task_example_asks_for_a_task_id():
    for path in WORKFLOWS:
        wf = _load(path)
        for n in wf["nodes"]:
            if n["type"] == "HDRedraw_FetchTask":
                assert _widgets("HDRedraw_FetchTask", n)["task_id"] == ""
                assert any(m["type"] == "Note" and "task id" in m["widgets_values"][0] for m in wf["nodes"])


def test_generator_is_up_to_date(monkeypatch):
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_examples", module)
    spec.loader.exec_module(module)
    generated = module.generate()
    assert sorted(generated) == [p.stem for p in WORKFLOWS], "run: python tools/make_examples.py"
    for name, data in generated.items():
        assert _load(EXAMPLES / f"{name}.json") == data, f"{name}.json is stale; run: python tools/make_examples.py"


def test_mixed_recipes_feed_pack_nodes_from_core_nodes_and_back():
    for name in MIXED:
        wf = _load(EXAMPLES / f"{name}.json")
        types = {n["id"]: n["type"] for n in wf["nodes"]}
        ours = {i for i, t in types.items() if t in nodes.NODE_CLASS_MAPPINGS}
        core = {i for i, t in types.items() if t not in nodes.NODE_CLASS_MAPPINGS and t not in PLUMBING}
        fed = [link for link in wf["links"] if link[1] in core and link[3] in ours]
        feeding = [link for link in wf["links"] if link[1] in ours and link[3] in core]
        assert fed, f"{name}: no core node feeds a pack node"
        # (the local-model recipe ends at Save: its point is the local model before HD Redraw)
        assert feeding or name == "local_upscale_then_redraw", f"{name}: no pack node feeds a core node"
    local = _types("local_upscale_then_redraw")
    assert {"UpscaleModelLoader", "ImageUpscaleWithModel", "ImageScale", "HDRedraw_Redraw"} <= set(local)
    note = next(n for n in _load(EXAMPLES / "local_upscale_then_redraw.json")["nodes"] if n["type"] == "Note")
    assert "Needs model weights" in note["widgets_values"][0] and ".pth" in note["widgets_values"][0]
    assert {"ImageCompositeMasked", "InvertMask", "HDRedraw_ExtractPattern"} <= set(_types("print_on_mockup"))
    assert {"HDRedraw_RenderSVG", "ImageBlend"} <= set(_types("svg_print_blend"))


def test_nodes_do_not_overlap_in_either_renderer(monkeypatch):
    """Boxes as tall as the taller renderer draws them (Nodes 2.0 rows are taller) never overlap; the browser
    test measures the real thing in every front end."""
    spec = importlib.util.spec_from_file_location("make_examples", ROOT / "tools" / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "make_examples", module)
    spec.loader.exec_module(module)
    for wf in module.build(module.definitions()):
        wf.to_json()
        boxes = [(n.pos[0], n.pos[1] - module.TITLE, n.size()[0], n.footprint()) for n in wf.nodes]
        for i, (x, y, w, h) in enumerate(boxes):
            for x2, y2, w2, h2 in boxes[i + 1:]:
                assert not (x < x2 + w2 and x2 < x + w and y < y2 + h2 and y2 < y + h), wf.name
