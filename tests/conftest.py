"""Test setup: import the checkout as `hdredraw` whatever its folder is called, and serve the emulator."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _register_checkout_as_hdredraw() -> None:
    """Tests always exercise this checkout, not some installed copy."""
    runpy.run_path(str(ROOT / "tools" / "dev.py"))["register"](ROOT)


_register_checkout_as_hdredraw()
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py

from hdredraw.engine import config, http_faults, jobs, services, steps  # noqa: E402
from hdredraw.engine.emulator import Emulator  # noqa: E402


def _load_helper(name: str):
    """Tests import helpers beside this file by plain name (pytest runs with --import-mode=importlib, which
    does not put tests/ on sys.path)."""
    import importlib.util

    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


real_comfyui = _load_helper("real_comfyui")

SECRET_KEY = "emulator-key"
SECRET_TOKEN = "emulator-token"


@pytest.fixture(scope="session")
def emulator():
    with Emulator(processing_time=0.3, status_cache=3.0) as emu:
        yield emu


@pytest.fixture
def emu(emulator, request):
    """The shared emulator, reset to a clean state for each test (its 3 s status cache only for timing tests)."""
    emulator.reset()
    emulator.processing_time = 0.3
    emulator.status_cache = 3.0 if request.node.get_closest_marker("timing") else 0.0
    yield emulator
    emulator.reset()


@pytest.fixture(autouse=True)
def quick_waits(request, monkeypatch):
    """Tests that are not about waiting do not wait: near-zero backoff, first poll at once, fast polls.

    Tests about the rhythm itself carry @pytest.mark.timing and see the real values.
    """
    if request.node.get_closest_marker("timing"):
        return
    monkeypatch.setattr(http_faults, "BACKOFF_SCALE", 0.01)
    monkeypatch.setattr(steps, "FIRST_POLL_DELAY", 0.0)
    for service in services.SERVICES.values():
        monkeypatch.setattr(service, "poll_interval", 0.05)


@pytest.fixture
def fast_polls(monkeypatch, request):
    """A shorter (but real) poll rhythm, for timing tests that are not about the rhythm itself."""
    if not request.node.get_closest_marker("timing"):
        return  # quick_waits already did better
    monkeypatch.setattr(steps, "FIRST_POLL_DELAY", 0.05)
    monkeypatch.setattr(services.get("hdredraw"), "poll_interval", 0.3)
    monkeypatch.setattr(services.get("hidream"), "poll_interval", 0.2)


def settings_for(emu, **overrides) -> config.Settings:
    values = dict(hdredraw_base_url=emu.base_url, hdredraw_user_key=emu.user_key,
                  hidream_base_url=emu.hidream_base_url, hidream_token=emu.hidream_token,
                  job_timeout=30.0, connect_timeout=2.0, read_timeout=5.0, concurrency=4)
    values.update(overrides)
    return config.Settings(**values)


@pytest.fixture
def make_settings(emu):
    """Settings pointing at the emulator, with any field overridden."""
    return lambda **overrides: settings_for(emu, **overrides)


@pytest.fixture
def client(emu, fast_polls):
    emu.status_cache = 0.0
    c = jobs.Client(settings_for(emu))
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    """No test reads or writes the developer's real config or credentials."""
    monkeypatch.setenv("HDREDRAW_CONFIG", str(tmp_path / "hdredraw-config.json"))
    monkeypatch.setenv("HDREDRAW_DATA_DIR", str(tmp_path / "hdredraw-data"))
    for name in [s.env for s in config.SETTINGS] + ["HDREDRAW_LANG", "HDREDRAW_OUTPUT_DIR"]:
        monkeypatch.delenv(name, raising=False)  # every setting the pack declares, so none leaks in


class ComfyStub:
    """Stand-ins for the few ComfyUI modules the node layer touches, recording what the nodes did."""

    class Interrupted(Exception):
        pass

    def __init__(self, output_dir):
        import types

        self.texts: list[tuple[str, str]] = []
        self.bars: list[tuple[int, int]] = []
        self.events: list[tuple[str, dict]] = []
        self.interrupt = False
        stub = self

        class PromptServer:
            instance = None
            client_id = "client-1"

            def send_progress_text(self, text, node_id, sid=None):
                stub.texts.append((str(node_id), text))

            def send_sync(self, event, data, sid=None):
                stub.events.append((event, data))

        PromptServer.instance = PromptServer()

        class ProgressBar:
            def __init__(self, total, node_id=None):
                self.total = total

            def update_absolute(self, value, total=None, preview=None):
                stub.bars.append((value, total or self.total))
                throw()  # ComfyUI's progress hook raises (and clears the flag) when Cancel was pressed

        def throw():
            if stub.interrupt:
                stub.interrupt = False
                raise ComfyStub.Interrupted()

        self.modules = {
            "server": types.SimpleNamespace(PromptServer=PromptServer),
            "comfy": types.SimpleNamespace(),
            "comfy.utils": types.SimpleNamespace(ProgressBar=ProgressBar),
            "comfy.model_management": types.SimpleNamespace(
                processing_interrupted=lambda: stub.interrupt, throw_exception_if_processing_interrupted=throw,
                InterruptProcessingException=ComfyStub.Interrupted),
            "folder_paths": types.SimpleNamespace(get_output_directory=lambda: str(output_dir),
                                                  get_user_directory=lambda: str(output_dir / "user")),
        }
        self.modules["comfy"].utils = self.modules["comfy.utils"]
        self.modules["comfy"].model_management = self.modules["comfy.model_management"]


@pytest.fixture
def comfy(tmp_path, monkeypatch):
    stub = ComfyStub(tmp_path / "output")
    for name, module in stub.modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return stub


@pytest.fixture
def service_env(emu, monkeypatch, fast_polls):
    """Point the node layer (which reads settings itself) at the emulator."""
    emu.status_cache = 0.0
    monkeypatch.setenv("HDREDRAW_BASE_URL", emu.base_url)
    monkeypatch.setenv("HDREDRAW_USER_KEY", emu.user_key)
    monkeypatch.setenv("HIDREAM_BASE_URL", emu.hidream_base_url)
    monkeypatch.setenv("HIDREAM_API_TOKEN", emu.hidream_token)
    monkeypatch.setenv("HDREDRAW_TIMEOUT", "30")
    return emu


# ------------------------------------------------------------------ real ComfyUI (tests/real_comfyui.py)

_INSTALLS, _INSTALL_PROBLEMS = real_comfyui.find_installs()
_COMFYUI_PARAMS = [pytest.param(i, id=f"comfyui-{i.label}") for i in _INSTALLS] or [
    pytest.param(None, id="comfyui-none", marks=pytest.mark.skip(reason=real_comfyui.skip_reason(_INSTALL_PROBLEMS)))]


@pytest.fixture(scope="session")
def comfyui_pool(emulator):
    """Servers are started lazily (10-20 s each) and shared by every test of the session."""
    pool = real_comfyui.ServerPool(emulator.base_url, emulator.hidream_base_url)
    yield pool
    pool.close()


@pytest.fixture(scope="session", params=_COMFYUI_PARAMS)
def comfyui_install(request):
    return request.param


@pytest.fixture
def comfyui(comfyui_install, comfyui_pool, emu):
    """A real ComfyUI (each available version in turn) with the pack, pointed at the emulator, with no
    stored pack settings at the start of the test."""
    server = comfyui_pool.get(comfyui_install)
    server.reset()
    yield server
    server.reset()
