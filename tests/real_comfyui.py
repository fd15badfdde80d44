"""Real ComfyUI servers for tests, with this checkout installed as a custom node.

Why: stubs of ComfyUI prove nothing about its origin check, its route prefixes, its loader or its executor;
the pack's routes and nodes must be exercised in the ComfyUI versions users run.  The installs come from
`../shared/comfyui/setup.sh --pack-reqs requirements.txt --env-file FILE` (source FILE before pytest):

    COMFYUI_DIR / COMFY_PYTHON                  ComfyUI 0.3.64 (frontend 1.27)
    COMFYUI_DIR_NEW / COMFY_PYTHON_NEW          ComfyUI 0.8.0 (frontend 1.35)
    COMFYUI_DIR_NEWEST / COMFY_PYTHON_NEWEST    ComfyUI 0.8.0 with the newest frontend (setup.sh --frontend 1.58.1)

The newest-frontend install runs the same backend as 0.8.0, so only the front-end tests (tests/test_browser.py,
through `find_installs(frontends=True)`) use it; backend tests run once per backend.

A ComfyServer runs `$COMFY_PYTHON main.py --cpu --listen 127.0.0.1 --port FREE` with its own temporary
user/input/output/temp folders, only this pack loaded (symlinked into custom_nodes under a name with a dot
and a dash, as registry and git folder names have; copied where symlinks are unavailable), and the pack's
environment pointing at the emulator and at temporary config and data paths.  It is stopped by the pid it was
started with, and the link is removed.  tests/conftest.py shares one server per version per session.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import copy_pack

ROOT = Path(__file__).resolve().parents[1]
PROBE_NODE = "HDRedraw_RemoveWatermark"  # present once the pack has loaded
TEST_IMAGE = "hdredraw_test.png"  # written into every server's input folder
# (version label, directory variable, interpreter variable) as written by setup.sh
VARIABLES = (("0.3.64", "COMFYUI_DIR", "COMFY_PYTHON"), ("0.8.0", "COMFYUI_DIR_NEW", "COMFY_PYTHON_NEW"))
NEWEST = ("newest", "COMFYUI_DIR_NEWEST", "COMFY_PYTHON_NEWEST")  # same backend as 0.8.0, newest frontend
SETUP_HINT = ("run `../shared/comfyui/setup.sh --frontend 1.58.1 --pack-reqs requirements.txt --env-file "
              "/tmp/comfy.env` and `. /tmp/comfy.env` before pytest")


@dataclass(frozen=True)
class Install:
    """One ComfyUI install: its folder, its interpreter and its version (from comfyui_version.py)."""

    label: str
    directory: Path
    python: Path

    @property
    def frontend(self) -> str:
        """The installed comfyui-frontend-package version (from its dist-info folder), or '?'."""
        for info in self.python.parent.parent.glob("lib/python*/site-packages/comfyui_frontend_package-*.dist-info"):
            return info.name.removeprefix("comfyui_frontend_package-").removesuffix(".dist-info")
        return "?"

    @property
    def version(self) -> str:
        text = (self.directory / "comfyui_version.py").read_text(encoding="utf-8", errors="replace") \
            if (self.directory / "comfyui_version.py").is_file() else ""
        found = re.search(r"__version__\s*=\s*['\"]([^'\"]+)", text)
        return found.group(1) if found else self.label


def find_installs(environ: Mapping[str, str] | None = None,
                  frontends: bool = False) -> tuple[list[Install], list[str]]:
    """The installs named by setup.sh's exports, and why any expected one is missing.

    With `frontends`, also the newest-frontend install (a front end to test, not another backend)."""
    environ = os.environ if environ is None else environ
    found: list[Install] = []
    problems: list[str] = []
    for label, dir_var, py_var in VARIABLES + ((NEWEST,) if frontends else ()):
        directory = environ.get(dir_var)
        python = environ.get(py_var) or (environ.get("COMFYUI_PYTHON") if dir_var == "COMFYUI_DIR" else None)
        if not directory:
            problems.append(f"{dir_var} is not set")
            continue
        if not (Path(directory) / "main.py").is_file() or not (Path(directory) / "custom_nodes").is_dir():
            problems.append(f"{dir_var}={directory} has no main.py and custom_nodes/")
            continue
        if not python or not os.access(python, os.X_OK):
            problems.append(f"{py_var}={python!r} is not an executable Python")
            continue
        found.append(Install(label, Path(directory), Path(python)))
    return found, problems


def skip_reason(problems: list[str]) -> str:
    return f"real ComfyUI: no install found ({'; '.join(problems)}); {SETUP_HINT}"


def png_bytes(width: int = 48, height: int = 32) -> bytes:
    """A small RGB gradient PNG, without Pillow (the test process need not have it)."""
    rows = b"".join(b"\x00" + bytes(v for x in range(width) for v in (x * 5 % 256, y * 7 % 256, 128))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ComfyServer:
    """One ComfyUI process with the pack; see the module docstring."""

    def __init__(self, install: Install, hdredraw_base_url: str, hidream_base_url: str,
                 extra_env: Mapping[str, str] | None = None):
        self.install = install
        self.tmp = Path(tempfile.mkdtemp(prefix=f"hdredraw-comfyui-{install.label}-"))
        self.user_dir = self.tmp / "user"
        self.input_dir = self.tmp / "input"
        self.output_dir = self.tmp / "output"
        self.temp_dir = self.tmp / "temp"
        self.config_file = self.tmp / "pack-config" / "config.json"
        self.data_dir = self.tmp / "pack-data"
        self.log_file = self.tmp / "comfyui.log"
        self.pack_name = f"ComfyUI-HDRedraw.test-{uuid.uuid4().hex[:8]}"
        self.pack_dir = install.directory / "custom_nodes" / self.pack_name
        self.env = {"HDREDRAW_BASE_URL": hdredraw_base_url, "HIDREAM_BASE_URL": hidream_base_url,
                    "HDREDRAW_CONFIG": str(self.config_file), "HDREDRAW_DATA_DIR": str(self.data_dir),
                    **(extra_env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def settings_file(self) -> Path:
        """ComfyUI's own settings of the default user (comfy.settings.json)."""
        return self.user_dir / "default" / "comfy.settings.json"

    # ------------------------------------------------------------------ life cycle

    def start(self, timeout: float = 180.0) -> None:
        """Start ComfyUI and wait until the pack's nodes are registered (or fail with the log's tail)."""
        for folder in (self.user_dir / "default", self.input_dir, self.output_dir, self.temp_dir):
            folder.mkdir(parents=True)
        # A returning user (no first-run template browser), English UI whatever the machine's language.
        self.settings_file.write_text(json.dumps({"Comfy.TutorialCompleted": True, "Comfy.Locale": "en"}))
        (self.input_dir / TEST_IMAGE).write_bytes(png_bytes())
        self._install_pack()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HDREDRAW_", "HIDREAM_")) and k not in ("PYTHONPATH", "PYTHONHOME")}
        no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost"]))
        env.update(self.env, PYTHONUNBUFFERED="1", NO_PROXY=no_proxy, no_proxy=no_proxy)
        self.port = free_port()
        args = [str(self.install.python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port),
                "--disable-auto-launch", "--user-directory", str(self.user_dir),
                "--input-directory", str(self.input_dir), "--output-directory", str(self.output_dir),
                "--temp-directory", str(self.temp_dir),
                "--disable-all-custom-nodes", "--whitelist-custom-nodes", self.pack_name]
        known = (self.install.directory / "comfy" / "cli_args.py").read_text(encoding="utf-8", errors="replace")
        if "--disable-api-nodes" in known:
            args.append("--disable-api-nodes")
        if "--database-url" in known:  # ComfyUI's default database lives in the shared install folder
            args += ["--database-url", "sqlite:///:memory:"]
        started = time.monotonic()
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(args, cwd=self.install.directory, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = started + timeout
        while not self._ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"ComfyUI {self.install.label} exited with {self.process.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"ComfyUI {self.install.label} did not answer within {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.2)
        self.startup_seconds = time.monotonic() - started

    def _install_pack(self) -> None:
        try:
            os.symlink(ROOT, self.pack_dir, target_is_directory=True)
        except (OSError, NotImplementedError):  # no symlink privilege (Windows): a copy without tests
            copy_pack(self.pack_dir)

    def _ready(self) -> bool:
        try:
            answer = self.get(f"/object_info/{PROBE_NODE}", timeout=5)
        except OSError:
            return False
        if answer.status != 200:
            return False
        if PROBE_NODE not in answer.json():  # ComfyUI is up but the pack did not load: say why
            raise RuntimeError(f"ComfyUI {self.install.label} is up without the pack's nodes:\n{self.log_tail()}")
        return True

    def stop(self) -> None:
        """Stop the process this object started (by its pid), then remove the pack link and the folders."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT if os.name == "posix" else signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(20)
        if self.pack_dir.is_symlink():
            self.pack_dir.unlink()
        elif self.pack_dir.is_dir() and self.pack_dir.name.startswith("ComfyUI-HDRedraw.test-"):
            shutil.rmtree(self.pack_dir, ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def reset(self) -> None:
        """Forget the pack's stored settings, so each test starts from the environment alone."""
        self.config_file.unlink(missing_ok=True)

    # ------------------------------------------------------------------ HTTP

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Response:
        """Exactly these headers (plus Host and Content-Length unless given): nothing is added or guessed."""
        headers = dict(headers or {})
        lower = {k.lower() for k in headers}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest(method, path, skip_host="host" in lower, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if body is not None and "content-length" not in lower:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            answer = conn.getresponse()
            return Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read())
        finally:
            conn.close()

    def get(self, path: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Response:
        return self.request("GET", path, None, headers, timeout)

    def post(self, path: str, body: bytes | str | dict | list | None = None,
             headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Response:
        """POST `body`: bytes and str go as they are (no Content-Type added); a dict or list is sent as JSON
        with `Content-Type: application/json` unless `headers` names a Content-Type."""
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.request("POST", path, data, headers, timeout)

    # ------------------------------------------------------------------ prompts

    def post_prompt(self, graph: Mapping[str, Any], client_id: str | None = None) -> str:
        """Queue an API-format graph; its prompt id (an AssertionError with ComfyUI's answer if refused)."""
        answer = self.post("/prompt", {"prompt": graph, "client_id": client_id or uuid.uuid4().hex})
        assert answer.status == 200, (answer.status, answer.body[:2000])
        return answer.json()["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """The prompt's /history entry once it has finished (success, error or interrupted)."""
        deadline = time.monotonic() + timeout
        while True:
            answer = self.get(f"/history/{prompt_id}")
            entry = answer.json().get(prompt_id) if answer.status == 200 else None
            if entry:  # ComfyUI adds a prompt to /history once it has finished, whichever way
                return entry
            if time.monotonic() > deadline:
                raise AssertionError(f"prompt {prompt_id} not finished within {timeout:.0f} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def interrupt(self) -> None:
        """Cancel the running prompt, as the Cancel button does."""
        answer = self.post("/interrupt", {})
        assert answer.status == 200, (answer.status, answer.body[:500])


def history_messages(entry: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A history entry's status messages by event name (execution_error, execution_interrupted, ...)."""
    return {name: data for name, data in entry.get("status", {}).get("messages", [])}


class ServerPool:
    """One server per install, started on first use and stopped at the end of the session."""

    def __init__(self, hdredraw_base_url: str, hidream_base_url: str):
        self.urls = (hdredraw_base_url, hidream_base_url)
        self.servers: dict[str, ComfyServer] = {}
        self.failures: dict[str, str] = {}

    def get(self, install: Install) -> ComfyServer:
        if install.label in self.failures:
            raise RuntimeError(self.failures[install.label])
        if install.label not in self.servers:
            server = ComfyServer(install, *self.urls)
            try:
                server.start()
            except BaseException as exc:
                server.stop()
                self.failures[install.label] = str(exc)
                raise
            self.servers[install.label] = server
        return self.servers[install.label]

    def close(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.servers.clear()
