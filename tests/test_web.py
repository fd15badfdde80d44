"""The web extension's shape: small ES modules by what they show, registration that never waits on the network,
and only the two ComfyUI modules that are not deprecated.

ComfyUI loads every .js file under WEB_DIRECTORY as an extension, so each module must be importable on its own
(no side effects that need the others first) and none may block: a top-level await would hold up ComfyUI's
start until the pack's server answered.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import tomllib

WEB = Path(__file__).resolve().parents[1] / "web"
MODULES = sorted(WEB.rglob("*.js"))
MAX_LINES = 400


def _code(path: Path) -> str:
    """The module without comments and string contents (good enough for these structural checks)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] if "://" not in line else line for line in text.splitlines())


def test_there_is_one_entry_and_small_modules():
    assert (WEB / "hdredraw.js").is_file() and len(MODULES) >= 8
    for path in MODULES:
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= MAX_LINES, f"{path.relative_to(WEB)} has {lines} lines"


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(WEB)) for p in MODULES])
def test_no_top_level_await(path):
    depth = 0
    for number, line in enumerate(_code(path).splitlines(), 1):
        if depth == 0 and re.search(r"(^|[=(,;]\s*)await\b", line.strip()):
            pytest.fail(f"{path.name}:{number}: top-level await: {line.strip()}")
        depth += line.count("{") - line.count("}")


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(WEB)) for p in MODULES])
def test_imports_are_relative_and_only_app_and_api_from_comfyui(path):
    for spec in re.findall(r"^import .* from \"([^\"]+)\";", path.read_text(encoding="utf-8"), re.M):
        assert spec.startswith("."), spec
        resolved = (path.parent / spec).resolve()
        if "scripts" in spec:
            assert spec.endswith(("/scripts/app.js", "/scripts/api.js")), spec
            # served at /extensions/<pack>/<path>: up to the server root, then /scripts/
            assert spec.count("../") == len(path.relative_to(WEB).parts) + 1, spec
        else:
            assert resolved.is_file(), f"{path.name} imports a missing {spec}"


def test_only_the_entry_registers_an_extension():
    registering = [p.name for p in MODULES if "registerExtension(" in _code(p)]
    assert registering == ["hdredraw.js"]


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to check the syntax")
@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(WEB)) for p in MODULES])
def test_modules_parse(path):
    answer = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr


def test_pip_ships_every_web_file_and_locale():
    """pyproject lists package data by hand: a new web module, help page or locale must be covered."""
    root = WEB.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["hdredraw"]

    def shipped(rel: str) -> bool:
        parts = rel.split("/")
        return any(len(g.split("/")) == len(parts)
                   and all(fnmatch.fnmatch(p, q) for p, q in zip(parts, g.split("/"), strict=True)) for g in globs)

    files = [p for folder in (WEB, root / "locales") for p in folder.rglob("*") if p.is_file()]
    missing = [str(p.relative_to(root)) for p in files if not shipped(p.relative_to(root).as_posix())]
    assert files and missing == []
