"""Locale files are generated from the specs and node definitions, and never drift from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")

from hdredraw import nodes  # noqa: E402
from hdredraw.engine import config  # noqa: E402
from hdredraw.nodes import i18n  # noqa: E402

LOCALES = Path(__file__).resolve().parents[1] / "locales"


def test_committed_locales_match_the_generator():
    for rel, data in i18n.generate().items():
        path = LOCALES / rel
        assert path.exists(), rel
        assert json.loads(path.read_text(encoding="utf-8")) == data, (
            f"{rel} is stale: run python -m hdredraw.nodes.i18n --write")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_node_input_output_and_category_is_translated(lang):
    defs = json.loads((LOCALES / lang / "nodeDefs.json").read_text(encoding="utf-8"))
    cats = json.loads((LOCALES / lang / "main.json").read_text(encoding="utf-8"))["nodeCategories"]
    for node_id, cls in nodes.NODE_CLASS_MAPPINGS.items():
        d = defs[node_id]
        assert d["display_name"] and d["description"]
        types = cls.INPUT_TYPES()
        for name in [*types["required"], *types.get("optional", {})]:
            assert d["inputs"][name]["name"] and d["inputs"][name]["tooltip"], (node_id, name)
        assert sorted(d["outputs"], key=int) == [str(i) for i in range(len(cls.RETURN_TYPES))]
        for segment in cls.CATEGORY.split("/"):
            assert cats[segment]
    settings = json.loads((LOCALES / lang / "settings.json").read_text(encoding="utf-8"))
    assert set(settings) == {f"HDRedraw_{s.name}" for s in config.SETTINGS}


def test_chinese_is_really_chinese():
    zh = json.loads((LOCALES / "zh" / "nodeDefs.json").read_text(encoding="utf-8"))
    en = json.loads((LOCALES / "en" / "nodeDefs.json").read_text(encoding="utf-8"))
    for node_id in zh:
        assert zh[node_id]["description"] != en[node_id]["description"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh[node_id]["description"])


def test_locale_strings_carry_no_vue_i18n_syntax():
    """The frontend compiles every locale string with vue-i18n: a bare @ { } | makes it a linked message, a
    broken placeholder or a plural, the compile fails and the setting or node text silently disappears.
    Named placeholders ({hint}) are meant."""
    import re

    def strings(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                yield from strings(v, f"{where}.{k}")
        elif isinstance(value, str):
            yield where, value

    for path in sorted((Path(__file__).resolve().parents[1] / "locales").glob("*/*.json")):
        for where, text in strings(json.loads(path.read_text(encoding="utf-8")), path.name):
            bare = re.sub(r"\{\w+\}", "", text)  # named placeholders ({hint}) are vue-i18n's own syntax
            assert not re.search(r"[@{}|]", bare), f"{where}: {text}"
