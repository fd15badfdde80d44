"""Per-node help pages (web/docs/<NodeId>/<locale>.md, found by ComfyUI's node help panel) are generated from the
node definitions, exist for every node in both languages, and never drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("torch")

from hdredraw import nodes  # noqa: E402
from hdredraw.nodes import aliases, help_pages  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "web" / "docs"


def test_committed_pages_match_the_generator():
    generated = help_pages.generate()
    committed = {str(p.relative_to(DOCS)): p.read_text(encoding="utf-8") for p in DOCS.rglob("*.md")}
    assert sorted(committed) == sorted(generated), "run: python -m hdredraw.nodes.help_pages --write"
    for rel, text in generated.items():
        assert committed[rel] == text, f"web/docs/{rel} is stale: run python -m hdredraw.nodes.help_pages --write"


@pytest.mark.parametrize("node_id", sorted(nodes.NODE_CLASS_MAPPINGS))
def test_every_node_has_both_languages_and_the_fallback(node_id):
    en = (DOCS / node_id / "en.md").read_text(encoding="utf-8")
    zh = (DOCS / node_id / "zh.md").read_text(encoding="utf-8")
    assert (DOCS / f"{node_id}.md").read_text(encoding="utf-8") == en
    cls = nodes.NODE_CLASS_MAPPINGS[node_id]
    for name in [*cls.INPUT_TYPES()["required"], *cls.INPUT_TYPES().get("optional", {}), *cls.RETURN_NAMES]:
        assert f"(`{name}`)" in en and f"(`{name}`)" in zh, name
    for heading in ("## Inputs", "## Outputs", "## What it costs", "## Typical recipes", "## Search words"):
        assert heading in en
    for heading in ("## 输入", "## 输出", "## 费用", "## 常用流程", "## 搜索关键词"):
        assert heading in zh
    assert all(word in zh for word in aliases.for_node(node_id))
    prose = re.sub(r"`[^`]*`", "", zh.split("## 搜索关键词")[0])
    assert not re.search(r"[\u4e00-\u9fff][,;:()]|[,;:()][\u4e00-\u9fff]", prose)


def test_ranges_defaults_and_costs_are_on_the_page():
    redraw = (DOCS / "HDRedraw_Redraw" / "en.md").read_text(encoding="utf-8")
    assert "| 1–8 · default 1 |" in redraw and "0–2147483647 · default 0" in redraw
    assert "paid task on HD Redraw" in redraw and "estimate" in redraw
    assert "cannot show a price" in (DOCS / "HDRedraw_HiDreamVectorize" / "en.md").read_text(encoding="utf-8")
    assert "Free:" in (DOCS / "HDRedraw_FetchTask" / "en.md").read_text(encoding="utf-8")
    seamless = (DOCS / "HDRedraw_Seamless" / "zh.md").read_text(encoding="utf-8")
    assert "可选值：四周无缝 / 仅上下无缝 / 仅左右无缝" in seamless and "`garment_to_vector`" in seamless


def test_every_example_workflow_has_a_recipe_line():
    assert sorted(help_pages.RECIPES) == sorted(p.stem for p in (ROOT / "example_workflows").glob("*.json"))


def test_comfyui_serves_the_pages_where_the_help_panel_looks(comfyui):
    for rel in ("HDRedraw_Seamless/zh.md", "HDRedraw_Seamless/en.md", "HDRedraw_Seamless.md"):
        answer = comfyui.get(f"/extensions/{comfyui.pack_name}/docs/{rel}")
        assert answer.status == 200, (rel, answer.status)
        assert answer.body.decode("utf-8") == (DOCS / rel).read_text(encoding="utf-8")
