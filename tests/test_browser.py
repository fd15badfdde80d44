"""The web extension in a real ComfyUI, driven in headless Chromium (opt-in).

Runs on each ComfyUI that tests/real_comfyui.py finds (the pack installed, the HD Redraw/HiDream addresses
pointing at the emulator, no key in the environment), when a Chromium executable is found (CHROMIUM_PATH as
exported by `../shared/comfyui/setup.sh --browser`, else CHROMIUM, else chromium / chromium-browser /
google-chrome on PATH) and the `playwright` Python package can be imported: from this interpreter, or from the
venv of PW_PYTHON (setup.sh --browser; the same Python version).  Playwright is only the driver: its own
browser downloads are never needed.  Set HDREDRAW_SCREENSHOT_DIR to keep screenshots.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from real_comfyui import TEST_IMAGE

ROOT = Path(__file__).resolve().parents[1]
SECRET = "emulator-key"  # the emulator's HD Redraw user key; it must never show up anywhere but the config file
NODE_TYPE = "HDRedraw_RemoveWatermark"
COPY_WIDGET = "hdredraw_copy_task_id"
CLIENT = {"X-HDRedraw-Client": "1"}  # what web/hdredraw.js sends with every request to the pack's routes
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Console errors that a fresh ComfyUI 0.3.x / frontend 1.27 prints with or without this pack:
# 404s for optional per-user files of a new user directory and the browser's own /favicon.ico probe ...
KNOWN_404 = re.compile(
    r"/(api/)?userdata(/user\.css|/comfy\.templates\.json|\?dir=(workflows|subgraphs))|/user\.css$|/favicon\.ico$")
# ... and a frontend 1.27.10 start-up bug: the core setting Comfy.Canvas.NavigationMode's onChange sets two
# settings before they are registered (settingStore onChange reads `setting.id` of undefined).  Only accepted
# when no extension frame is on the stack.
CORE_STARTUP_BUG = "Cannot read properties of undefined (reading 'id')"


def _chromium() -> str | None:
    for variable in ("CHROMIUM_PATH", "CHROMIUM"):
        explicit = os.environ.get(variable)
        if explicit:
            return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _playwright_from_pw_python() -> None:
    """Make setup.sh's playwright venv importable here when this interpreter has no playwright."""
    pw = os.environ.get("PW_PYTHON")
    if not pw or not Path(pw).exists():
        return
    out = subprocess.run([pw, "-c", "import sys, sysconfig; print(sys.version_info[:2] == tuple(map(int, '"
                          f"{sys.version_info[0]}.{sys.version_info[1]}'.split('.'))), sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, timeout=60)
    same, _, purelib = out.stdout.strip().partition(" ")
    if out.returncode == 0 and same == "True" and purelib not in sys.path:
        sys.path.append(purelib)


if _chromium() is None:
    pytest.skip("browser test: no Chromium found (run ../shared/comfyui/setup.sh --browser, or set CHROMIUM)",
                allow_module_level=True)
try:
    import playwright.sync_api  # noqa: F401
except ImportError:
    _playwright_from_pw_python()
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: pip install playwright (driver only), "
                               "or run ../shared/comfyui/setup.sh --browser and export PW_PYTHON")


def _wait_until(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Recorder:
    """What the page did: console errors, page errors, GET responses and WebSocket frames."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.responses: list = []
        self.frames: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._pageerror)
        page.on("response", lambda r: self.responses.append(r) if r.request.method == "GET" else None)
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda frame: self.frames.append(frame if isinstance(frame, str) else repr(frame))))

    def _console(self, message):
        text = message.text
        if message.type == "error":
            url = (message.location or {}).get("url", "")
            if "Failed to load resource" in text and "404" in text and KNOWN_404.search(url):
                return
            self.errors.append(f"console.error: {text} @ {url}")
        elif message.type == "warning" and "hdredraw" in text.lower():
            self.warnings.append(text)

    def _pageerror(self, error):
        stack = getattr(error, "stack", "") or ""
        if CORE_STARTUP_BUG in str(error) and "/extensions/" not in stack and "hdredraw" not in stack.lower():
            return
        self.errors.append(f"pageerror: {error}\n{stack}")


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("HDREDRAW_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def _status(stack) -> dict:
    answer = stack.get("/hdredraw/status", CLIENT)
    assert answer.status == 200, (answer.status, answer.body[:300])
    return answer.json()


# ------------------------------------------------------------------ the test

@pytest.fixture
def stack(comfyui, emu):
    """The shared ComfyUI of this version with no stored pack settings, and the emulator answering at once."""
    emu.status_cache = 0.0
    emu.processing_time = 0.5
    comfyui.emulator = emu
    return comfyui


def test_extension_in_comfyui(stack):
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=stack.url)
            page = context.new_page()
            page.set_default_timeout(20000)
            recorder = Recorder(page)
            _run(page, stack, recorder)
        finally:
            browser.close()


def _run(page, stack, recorder) -> None:
    page.goto(stack.url + "/")
    page.wait_for_function("window.app && window.app.graph && document.querySelector('.hdredraw-badge')")
    badge = page.locator(".hdredraw-badge")
    # "HD Redraw: –" before any balance is known; on a server other tests already used, the balance itself
    assert "HD Redraw" in badge.inner_text() + (badge.get_attribute("title") or "")

    schema = _status(stack)["schema"]
    assert {s["name"] for s in schema} >= {"hdredraw_base_url", "hdredraw_user_key", "hidream_token"}

    # -------- the settings dialog shows every setting of the schema, with values and sources from the server
    page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.get_by_role("option", name="HD Redraw").click()
    for s in schema:
        page.locator(f'[data-hdredraw-setting="{s["name"]}"]').wait_for()
        assert page.locator(f'[id="HDRedraw.{s["name"]}-label"]').count() == 1, s["name"]
    base_url = page.locator('[data-hdredraw-input="hdredraw_base_url"]')
    assert base_url.input_value() == stack.emulator.base_url
    assert base_url.is_disabled()  # provided by the environment, which wins: the dialog never overwrites it
    assert "HDREDRAW_BASE_URL" in page.locator('[data-hdredraw-setting="hdredraw_base_url"]').inner_text()
    _screenshot(page, "settings-dialog")

    # -------- a plain setting goes to the pack's config file, not to comfy.settings.json; Reset removes it
    concurrency = page.locator('[data-hdredraw-input="concurrency"]')
    concurrency.fill("2")
    concurrency.press("Enter")
    _wait_until(lambda: _status(stack)["settings"]["concurrency"] == {"value": 2, "source": "file"}, 10,
                "concurrency saved")
    page.locator('[data-hdredraw-setting="concurrency"] .hdredraw-reset').click()
    _wait_until(lambda: _status(stack)["settings"]["concurrency"]["source"] == "default", 10, "concurrency reset")

    # -------- the user key: typed into the password field, stored write-only
    key_input = page.locator('[data-hdredraw-secret="hdredraw_user_key"]')
    assert key_input.get_attribute("type") == "password"
    key_input.fill(SECRET)
    page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-save').click()
    note = page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-note')
    _wait_until(lambda: "…-key" in note.inner_text(), 10, "the key's masked hint in the dialog")
    assert key_input.input_value() == ""  # the typed value is not kept in the page
    assert _status(stack)["settings"]["hdredraw_user_key"] == {
        "set": True, "hint": "…-key", "source": "file", "origin": stack.emulator.base_url, "stale": False}
    assert _status(stack)["settings"]["hidream_token"]["set"] is False
    assert json.loads(stack.config_file.read_text())["hdredraw_user_key"] == SECRET
    assert stack.config_file.stat().st_mode & 0o077 == 0
    _screenshot(page, "settings-key-saved")
    page.keyboard.press("Escape")

    # -------- a workflow: an example from example_workflows/ when one runs on the emulator, else a tiny graph
    page.evaluate("""async () => {
        const { api } = await import('/scripts/api.js');
        window.__hdr = { done: null, events: [] };
        api.addEventListener('hdredraw.status', (e) => window.__hdr.events.push(e.detail));
        api.addEventListener('execution_success', () => { window.__hdr.done = 'success'; });
        api.addEventListener('execution_error', (e) => { window.__hdr.done = 'error: ' + e.detail.exception_message; });
    }""")
    example = _example_workflow(stack)
    if example is not None:
        page.evaluate("(wf) => app.loadGraphData(wf)", example)
    else:
        page.evaluate("""([image, type]) => app.loadApiJson({
            '1': { class_type: 'LoadImage', inputs: { image } },
            '2': { class_type: type, inputs: { image: ['1', 0], variation: 0 } },
            '3': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
        }, 'hdredraw-browser-test')""", [TEST_IMAGE, NODE_TYPE])
    page.wait_for_function("app.graph.nodes.some(n => n.comfyClass && n.comfyClass.startsWith('HDRedraw_'))")
    # The server (and its journal) is shared by the session: a fresh variation makes this run a new paid task.
    page.evaluate("""(v) => app.graph.nodes.forEach(n => n.widgets?.forEach(w => {
        if (w.name === 'variation') w.value = v; }))""", time.time_ns() % 2**31)

    # The "Copy task id" button is on every HD Redraw node but in neither the workflow nor the prompt.
    shape = _node_shapes(page)
    for node in shape:
        if node["type"] == "HDRedraw_RenderSVG":
            continue
        assert node["button"] and node["serialize"] is False, node
        assert len(node["values"]) == len(node["kept"]) and COPY_WIDGET not in node["kept"], node
        assert None not in node["values"] and COPY_WIDGET not in node["inputs"], node
    _check_workflow_has_no_secret(page)

    # -------- run it on the emulator; the badge shows the balance the server saw
    page.evaluate("app.queuePrompt(0, 1)")
    page.wait_for_function("window.__hdr.done !== null", timeout=60000)
    assert page.evaluate("window.__hdr.done") == "success", page.evaluate("window.__hdr.done")
    assert page.evaluate("window.__hdr.events.length") > 0  # hdredraw.status events reached the page
    submitted = {s["task_id"] for s in stack.emulator.submissions}
    assert submitted, "no task reached the emulator"
    account = stack.emulator.account(SECRET)
    expected = f"{account['remaining_count']} tasks"
    _wait_until(lambda: expected in badge.inner_text(), 15, f"badge to show {expected!r}")
    assert f"¥{account['remaining_money']}" in badge.inner_text()
    _screenshot(page, "after-run")
    # widgets_values are still exactly the Python inputs: no button, no status text (task id, balance).
    assert [n["values"] for n in _node_shapes(page)] == [n["values"] for n in shape]

    # -------- one click copies the node's task id
    node_id = next((n["id"] for n in shape if n["type"] == NODE_TYPE), shape[0]["id"])
    _click_copy_button(page, node_id)
    task_id = _wait_until(lambda: page.evaluate("navigator.clipboard.readText()"), 5, "a task id on the clipboard")
    assert task_id in submitted, (task_id, submitted)
    label = page.evaluate("""([id, name]) => app.graph.getNodeById(id).widgets.find(w => w.name === name).label""",
                          [node_id, COPY_WIDGET])
    assert f"{task_id[:10]}…" in label, label  # the button shows the id's start; the clipboard gets all of it
    page.locator(".p-toast-message", has_text="Task id copied").first.wait_for()

    # -------- the sidebar tab lists the task with a copy button
    page.evaluate("navigator.clipboard.writeText('')")
    badge.click()
    row = page.locator(f'.hdredraw-panel li[data-task-id="{task_id}"]')
    row.wait_for()
    assert expected in page.locator(".hdredraw-panel .hdredraw-balance").inner_text()
    _screenshot(page, "sidebar")
    row.locator(".hdredraw-copy").click()
    _wait_until(lambda: page.evaluate("navigator.clipboard.readText()") == task_id, 5, "copy from the sidebar")

    # -------- the key is nowhere: ComfyUI settings, workflow, GET responses, WebSocket, files, history
    _check_workflow_has_no_secret(page)
    _check_nothing_leaked(stack, recorder)

    # -------- removing the key through the dialog (with confirmation)
    page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    page.get_by_role("option", name="HD Redraw").click()
    page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-clear').click()
    page.get_by_role("button", name="Delete").click()
    _wait_until(lambda: _status(stack)["settings"]["hdredraw_user_key"]["set"] is False, 10, "the key removed")
    assert "hdredraw_user_key" not in json.loads(stack.config_file.read_text())

    # -------- Chinese UI: the extension follows ComfyUI's language setting without a reload
    page.keyboard.press("Escape")
    page.evaluate("app.extensionManager.setting.set('Comfy.Locale', 'zh')")
    _wait_until(lambda: f"{account['remaining_count']} 次" in badge.inner_text(), 5, "the badge in Chinese")
    assert "HD Redraw 余额" in badge.get_attribute("title")

    assert recorder.errors == [], "\n".join(recorder.errors)
    assert recorder.warnings == [], "\n".join(recorder.warnings)


def _example_workflow(stack) -> dict | None:
    """The smallest example workflow that only needs LoadImage and HD Redraw (user-key) nodes, pointed at the
    test image; None when there is none."""
    folder = ROOT / "example_workflows"
    hdredraw_types = {t for t, info in stack.get("/object_info").json().items()
                      if t.startswith("HDRedraw_") and t not in ("HDRedraw_HiDreamVectorize", "HDRedraw_RenderSVG")
                      and "HiDream" not in json.dumps(info.get("category", ""))}
    allowed = hdredraw_types | {"LoadImage", "PreviewImage", "SaveImage", "Note", "MarkdownNote"}
    best = None
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            workflow = json.loads(path.read_text(encoding="utf-8"))
            nodes = workflow["nodes"]
        except (ValueError, KeyError, TypeError):
            continue
        types = {n.get("type") for n in nodes}
        if not types <= allowed or not types & hdredraw_types or "HDRedraw_FetchTask" in types:
            continue
        rank = (NODE_TYPE not in types, len(nodes))
        if best is None or rank < best[0]:
            best = (rank, workflow)
    best = best and best[1]
    if best is not None:
        for n in best["nodes"]:
            if n.get("type") == "LoadImage" and n.get("widgets_values"):
                n["widgets_values"][0] = TEST_IMAGE
    return best


def _node_shapes(page) -> list[dict]:
    """For each HD Redraw node: its copy button, serialized widgets_values and prompt inputs."""
    return page.evaluate("""async (name) => {
        const nodes = app.graph.nodes.filter(n => (n.comfyClass || '').startsWith('HDRedraw_'));
        const prompt = await app.graphToPrompt();
        const saved = Object.fromEntries(prompt.workflow.nodes.map(n => [String(n.id), n.widgets_values || []]));
        return nodes.map(n => {
            const button = n.widgets.find(w => w.name === name);
            const kept = n.widgets.filter(w => w.serialize !== false && w.options?.serialize !== false);
            const values = n.serialize().widgets_values || [];
            if (JSON.stringify(values) !== JSON.stringify(saved[String(n.id)])) throw new Error('workflow differs');
            return { id: String(n.id), type: n.comfyClass, button: !!button, serialize: button && button.serialize,
                     values, kept: kept.map(w => w.name), inputs: Object.keys(prompt.output[String(n.id)]?.inputs || {}) };
        });
    }""", COPY_WIDGET)


def _click_copy_button(page, node_id: str) -> None:
    """Click the node's button on the canvas like a user (falls back to its callback if it is off-screen)."""
    point = page.evaluate("""([id, name]) => {
        const node = app.graph.getNodeById(id);
        app.canvas.centerOnNode?.(node);
        app.canvas.setDirty(true, true); app.canvas.draw(true, true);
        const w = node.widgets.find(w => w.name === name);
        const h = w.computedHeight || 20;
        const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2, node.pos[1] + w.y + h / 2]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return { x: r.left + x, y: r.top + y, inside: x > 0 && y > 0 && x < r.width && y < r.height };
    }""", [node_id, COPY_WIDGET])
    if point["inside"]:
        page.mouse.click(point["x"], point["y"])
    else:
        page.evaluate("([id, name]) => app.graph.getNodeById(id).widgets.find(w => w.name === name).callback()",
                      [node_id, COPY_WIDGET])


def _check_workflow_has_no_secret(page) -> None:
    text = page.evaluate("""async () => {
        const prompt = await app.graphToPrompt();
        return JSON.stringify([app.graph.serialize(), prompt.workflow, prompt.output, localStorage, sessionStorage]);
    }""")
    assert SECRET not in text


def _check_nothing_leaked(stack, recorder) -> None:
    settings = stack.settings_file.read_text()
    assert SECRET not in settings
    assert not [k for k in json.loads(settings) if k.startswith("HDRedraw.")], settings  # nothing stored there
    for route in ("/settings", "/api/settings", "/settings/HDRedraw.hdredraw_user_key", "/hdredraw/status",
                  "/api/hdredraw/status", "/hdredraw/tasks?limit=50", "/history", "/queue", "/object_info",
                  "/userdata?dir=workflows&recurse=true"):
        answer = stack.get(route, CLIENT)
        assert SECRET.encode() not in answer.body, route
        assert answer.status == 200 or "hdredraw" not in route, (route, answer.status)
    checked = 0
    for response in recorder.responses:
        try:
            body = response.body()
        except Exception:  # redirects and evicted bodies have none
            continue
        checked += 1
        assert SECRET.encode() not in body, response.url
    assert checked > 20
    assert not [f for f in recorder.frames if SECRET in f]
    # Output/temp images carry the prompt and workflow as metadata; the key is in neither.
    for folder in (stack.output_dir, stack.temp_dir, stack.user_dir / "default"):
        for path in folder.rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
