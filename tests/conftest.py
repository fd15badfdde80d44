"""Test setup: import the checkout as `hdredraw` whatever its folder is called, and serve the emulator."""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


DEV = runpy.run_path(str(ROOT / "tools" / "dev.py"))
DEV["register"](ROOT)  # tests always exercise this checkout, not some installed copy, whatever its folder
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py

from hdredraw.engine import config, jobs, services, steps  # noqa: E402
from hdredraw.engine.emulator import Emulator  # noqa: E402
from hdredraw.engine.journal import SqliteJournal  # noqa: E402

PG = runpy.run_path(str(ROOT / "tools" / "pg_server.py"))  # a throwaway PostgreSQL server on 127.0.0.1


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
    """The shared emulator, reset to a clean state for each test.  Tasks take a moment and the status cache is
    off, except for timing tests, which see a 0.3 s task and the service's 3 s cache; a test that needs a task
    to be running for a while says how long."""
    emulator.reset()
    timing = request.node.get_closest_marker("timing") is not None
    emulator.processing_time = 0.3 if timing else 0.02
    emulator.status_cache = 3.0 if timing else 0.0
    yield emulator
    emulator.reset()


@pytest.fixture(autouse=True)
def _node_advice(monkeypatch):
    """Messages name the node unless a test runs the command line (which switches them, process-wide)."""
    from hdredraw.engine import errors

    monkeypatch.setattr(errors, "_caller", "node")


@pytest.fixture(autouse=True)
def quick_waits(request, monkeypatch):
    """Tests that are not about waiting do not wait: near-zero backoff, first poll at once, fast polls.

    Tests about the rhythm itself carry @pytest.mark.timing and see the real values.
    """
    if request.node.get_closest_marker("timing"):
        monkeypatch.delenv(DEV["QUICK_WAITS"], raising=False)
        return
    DEV["quick_waits"](monkeypatch.setattr)
    monkeypatch.setenv(DEV["QUICK_WAITS"], "1")  # and the commands a test starts (tools/dev.py reads it)


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
    """No test reads or writes the developer's real config or credentials, or sees another test's ComfyUI
    folder: the first import of the node layer under the ComfyUI stand-in sets the default folder for good."""
    monkeypatch.setattr(config, "_default_dir", None)
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


@pytest.fixture
def env(emu):
    """What a command the test starts needs to reach the emulator (both services)."""
    emu.processing_time = 0.1
    return {"HDREDRAW_BASE_URL": emu.base_url, "HDREDRAW_USER_KEY": emu.user_key,
            "HIDREAM_BASE_URL": emu.hidream_base_url, "HIDREAM_API_TOKEN": emu.hidream_token}


# ------------------------------------------------------------------ real ComfyUI (tests/real_comfyui.py)

_INSTALLS, _INSTALL_PROBLEMS = real_comfyui.find_installs()
_COMFYUI_PARAMS = [pytest.param(i, id=f"comfyui-{i.label}") for i in _INSTALLS] or [
    pytest.param(None, id="comfyui-none", marks=pytest.mark.skip(reason=real_comfyui.skip_reason(_INSTALL_PROBLEMS)))]


COMFYUI_FIXTURES = {"comfyui_pool", "comfyui_install", "comfyui"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Every test that needs a real ComfyUI runs on the same xdist worker, so each server starts once.

    The longest work goes first (that worker's ComfyUI tests, then the tests marked `long`): xdist hands out
    tests in this order, so the last ones handed out are short and the workers end together."""
    comfyui = set()
    for item in items:
        if COMFYUI_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.xdist_group("comfyui"))
            comfyui.add(item.nodeid)
    items.sort(key=lambda item: 0 if item.nodeid in comfyui else 1 if item.get_closest_marker("long") else 2)


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


# --------------------------------------------------------------------------- journal backends

def postgres_unavailable() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None when they can."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (python -m pip install '.[postgres]')"
    if PG["find_bin"]() is None:
        return "PostgreSQL server binaries (initdb, postgres) not found (apt-get install postgresql)"
    return None


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session, started on first use; CI sets HDREDRAW_TEST_POSTGRES=required so
    that a missing server fails instead of skipping."""
    reason = postgres_unavailable()
    if reason:
        if os.environ.get("HDREDRAW_TEST_POSTGRES") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PG["TempPostgres"]()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """An empty database for one test, as a new one would be (its tables are created by the journal itself)."""
    url = pg_server.lend_database()
    yield url
    pg_server.give_back(url)


class Backend:
    """One journal backend for a test: `make(folder)` opens a journal on it; every journal made for the test
    shares the same store (the SQLite file in that folder, or the test's database)."""

    def __init__(self, name: str, url: str | None, server=None):
        self.name = name
        self.url = url
        self.server = server
        self.env = {"HDREDRAW_JOURNAL_URL": url} if url else {}
        self.made: list = []

    def make(self, folder, cache_mb: int = 2048, lease_seconds: float = 30.0):
        if self.url:
            from hdredraw.engine.journal_postgres import PostgresJournal

            journal = PostgresJournal(self.url, folder, cache_mb, lease_seconds=lease_seconds)
        else:
            journal = SqliteJournal(folder, cache_mb, lease_seconds=lease_seconds)
        self.made.append(journal)
        return journal

    def folder(self, root, machine: str):
        """The data folder of one worker: its own per machine with PostgreSQL, the one shared folder (and so
        the one file) with SQLite, which is shared by the processes of a single machine only."""
        return Path(root) / (machine if self.url else "shared")

    def close(self) -> None:
        for journal in self.made:
            journal.close()

    def cut(self, folder) -> None:
        """Take the journal away under running code: delete the SQLite file, or shut the database's doors
        (no new connections, open ones ended)."""
        if self.url is None:
            for name in ("journal.sqlite3", "journal.sqlite3-wal", "journal.sqlite3-shm"):
                try:
                    (Path(folder) / name).unlink()
                except FileNotFoundError:
                    pass
            return
        db = self.url.rsplit("/", 1)[1]
        self.server.execute(f'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false')
        self.server.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, monkeypatch):
    """Runs a test once per journal backend.  For PostgreSQL the environment points the node layer and child
    processes at the test's database too (HDREDRAW_JOURNAL_URL)."""
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    b = Backend(request.param, url, request.getfixturevalue("pg_server") if url else None)
    for name, value in b.env.items():
        monkeypatch.setenv(name, value)
    yield b
    b.close()
