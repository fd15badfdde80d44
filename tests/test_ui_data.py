"""What the web extension is given: its strings from the locale files, the prices and charges the routes add,
search words on every node, and Chinese that reads as Chinese (full-width punctuation)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from helpers import settle

pytest.importorskip("torch")

from hdredraw import nodes  # noqa: E402
from hdredraw.nodes import aliases, i18n, routes  # noqa: E402
from hdredraw.nodes.ui_text import UI  # noqa: E402
from hdredraw.nodes.zh import fullwidth  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HALF_WIDTH_IN_CHINESE = re.compile(r"[\u4e00-\u9fff][,;:!?()]|[,;:!?()][\u4e00-\u9fff]")


@pytest.mark.parametrize(("raw", "expected"), [
    ("处理模型选择(例如:\"通用模型\")。", "处理模型选择（例如：“通用模型”）。"),
    ("范围 1–8,默认 1.0。", "范围 1–8，默认 1.0。"),
    ("HiDream API token(Bearer)。", "HiDream API token（Bearer）。"),
    ("运行 `hdredraw config set a,b:c` 即可,好", "运行 `hdredraw config set a,b:c` 即可，好"),
    ("出图比例 1:1,地址 http://a.b:80/x", "出图比例 1:1，地址 http://a.b:80/x"),
    ("English only (untouched): a, b", "English only (untouched): a, b"),
])
def test_fullwidth(raw, expected):
    assert fullwidth(raw) == expected


def _chinese_strings(value):
    if isinstance(value, str):
        if re.search(r"[\u4e00-\u9fff]", value):
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _chinese_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _chinese_strings(v)


def _without_code(text: str) -> str:
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("name", ["main", "nodeDefs", "settings"])
def test_chinese_locales_use_full_width_punctuation(name):
    data = json.loads((ROOT / "locales" / "zh" / f"{name}.json").read_text(encoding="utf-8"))
    bad = [s for s in _chinese_strings(data) if HALF_WIDTH_IN_CHINESE.search(_without_code(s))]
    assert bad == []


def test_every_setting_label_and_group_is_chinese_in_chinese():
    zh = json.loads((ROOT / "locales" / "zh" / "settings.json").read_text(encoding="utf-8"))
    for entry in zh.values():
        assert re.search(r"[\u4e00-\u9fff]", entry["name"]), entry  # ("HiDream API token" was left English)
    categories = json.loads((ROOT / "locales" / "zh" / "main.json").read_text(encoding="utf-8"))["settingsCategories"]
    assert all(re.search(r"[\u4e00-\u9fff]", v) for v in categories.values()), categories


def test_ui_strings_are_complete_in_both_languages():
    en, zh = (json.loads((ROOT / "locales" / lang / "main.json").read_text(encoding="utf-8"))["hdredraw"]
              for lang in ("en", "zh"))
    assert set(en["ui"]) == set(zh["ui"]) == set(UI)
    for key, text in zh["ui"].items():
        assert sorted(re.findall(r"\{\w+\}", text)) == sorted(re.findall(r"\{\w+\}", en["ui"][key])), key
    assert zh["ops"]["seamless"] == "无缝拼图"
    assert zh["options"]["HDRedraw_Seamless"]["direction"]["all sides"] == "四周无缝"
    assert routes.strings_payload() == {"en": en, "zh": zh}  # the route serves exactly the locale files


def test_every_js_string_key_exists_and_every_string_is_used():
    js = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "web").rglob("*.js"))
    called = set(re.findall(r"\bt\(\s*\"(\w+)\"", js))
    assert called - set(UI) == set(), "keys used in JS but missing from nodes/ui_text.py"
    quoted = set(re.findall(r"\"(\w+)\"", js)) | {f"state_{s}" for s in ("submitting", "pending", "done", "failed",
                                                                      "uncertain")}  # t(`state_${status}`)
    assert set(UI) - quoted == set(), "strings nobody shows"


def test_search_aliases_on_every_node_in_both_languages():
    found = set()
    for node_id, cls in nodes.NODE_CLASS_MAPPINGS.items():
        words = cls.SEARCH_ALIASES
        assert words == aliases.for_node(node_id)
        assert any(re.search(r"[\u4e00-\u9fff]", w) for w in words), node_id
        assert any(re.fullmatch(r"[A-Za-z0-9 ()/.:-]+", w) for w in words), node_id
        found |= {w for w in aliases.MUST_FIND if any(w in alias for alias in words)}
    assert found == set(aliases.MUST_FIND)


def test_the_generated_web_data_is_current():
    assert (ROOT / "web" / "hdredraw" / "generated.js").read_text(encoding="utf-8") == i18n.generated_js(), (
        "web/hdredraw/generated.js is stale: run python -m hdredraw.nodes.i18n --write")
    data = i18n.web_data()
    assert set(data["nodes"]) == set(nodes.NODE_CLASS_MAPPINGS)
    assert [s["name"] for s in data["settings"]] == [s.name for s in i18n.config.SETTINGS]


def test_status_and_tasks_carry_prices_and_charges(comfy, service_env):
    import torch

    node = nodes.NODE_CLASS_MAPPINGS["HDRedraw_RemoveWatermark"]()
    for seed in (1, 2):
        image = torch.rand(1, 12, 12, 3, generator=torch.Generator().manual_seed(seed))
        settle(node.execute(image=image, unique_id="4"))
    status = routes.status_payload()
    assert status["prices"]["remove_watermark"] == {"count": 1, "money": 0, "samples": 1}
    assert status["spend_today"] == {"tasks": 2, "known": 1, "count": 1, "money": 0, "exact": False}
    tasks = routes.tasks_payload()["tasks"]
    assert tasks[0]["charged"] == {"count": 1, "money": 0, "exact": True} and tasks[1]["charged"] is None
