"""The engine stays free of torch and ComfyUI; the pack loads from any folder name."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import copy_pack

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("torch", "comfy", "folder_paths", "server", "nodes", "comfy_api", "execution")


def _run(code: str, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_engine_imports_neither_torch_nor_comfyui(tmp_path):
    pack = copy_pack(tmp_path / "Some-Folder.name")
    loaded = _run(f"""
        import importlib.util, json, sys
        spec = importlib.util.spec_from_file_location("hdredraw", {str(pack / '__init__.py')!r},
                                                      submodule_search_locations=[{str(pack)!r}])
        m = importlib.util.module_from_spec(spec); sys.modules["hdredraw"] = m; spec.loader.exec_module(m)
        import hdredraw.engine.cli, hdredraw.engine.jobs, hdredraw.engine.emulator, hdredraw.engine.demo
        print(json.dumps(sorted(sys.modules)))
    """, tmp_path)
    bad = [m for m in loaded if m.split(".")[0] in FORBIDDEN]
    assert bad == []


def test_pack_loads_like_comfyui_loads_it(tmp_path):
    """ComfyUI imports the folder by path under its own module name; no top-level names leak."""
    pack = copy_pack(tmp_path / "custom_nodes" / "ComfyUI-HDRedraw-main")
    info = _run(f"""
        import importlib.util, json, sys
        path = {str(pack)!r}
        name = path.replace(".", "_x_")
        spec = importlib.util.spec_from_file_location(name, path + "/__init__.py")
        m = importlib.util.module_from_spec(spec); sys.modules[name] = m; spec.loader.exec_module(m)
        print(json.dumps({{"web": m.WEB_DIRECTORY, "top": sorted(k for k in sys.modules if k in
                          ("engine", "nodes", "utils", "app", "server", "comfy", "hdredraw"))}}))
    """, tmp_path)
    assert info == {"web": "./web", "top": []}


def test_no_torch_in_runtime_dependencies():
    req = (ROOT / "requirements.txt").read_text().split()
    assert not any(line.lower().startswith("torch") for line in req)
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(d.split(">")[0].split("=")[0] for d in project["dependencies"]) == sorted(
        line.split(">")[0].split("=")[0] for line in req)
    assert "comfyui" not in project["name"].lower()
    assert not (ROOT / "install.py").exists()


@pytest.mark.long
def test_registering_nodes_stays_light(tmp_path):
    """ComfyUI times each pack's import: the HTTP stack and codecs load only when a node runs."""
    import pytest

    pytest.importorskip("torch")
    loaded = _run(f"""
        import importlib.util, json, sys
        import torch
        path = {str(ROOT)!r}
        spec = importlib.util.spec_from_file_location("pack_x", path + "/__init__.py", submodule_search_locations=[path])
        m = importlib.util.module_from_spec(spec); sys.modules["pack_x"] = m; spec.loader.exec_module(m)
        assert len(m.NODE_CLASS_MAPPINGS) == 13
        print(json.dumps(sorted(sys.modules)))
    """, tmp_path)
    assert "requests" not in loaded and "pack_x.engine.jobs" not in loaded and "resvg_py" not in loaded


def test_every_subpackage_is_installed_by_pip():
    """pyproject lists packages by hand (the root is the node folder): a new subpackage must be listed."""
    tomllib = pytest.importorskip("tomllib")

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"hdredraw"} | {"hdredraw." + ".".join(p.parent.relative_to(ROOT).parts)
                            for top in ("engine", "nodes") for p in (ROOT / top).glob("**/__init__.py")}
    assert found == listed
