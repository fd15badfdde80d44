"""Driving ComfyUI's front end in headless Chromium, the same way in frontends 1.27, 1.35 and 1.58, in the classic
canvas renderer and in Nodes 2.0 (the Vue renderer), for tests/test_browser.py.

Why a kit: the three front ends build their settings dialog, node search and node DOM differently; the test
states what a user sees, and this module knows where each version puts it.  Playwright is only the driver: its
own browser downloads are never needed (CHROMIUM_PATH from `setup.sh --browser`, else a chromium on PATH).
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Console errors ComfyUI's own front ends print with or without this pack, in a fresh user directory on a CPU
# install without models: 404s for optional per-user files and the browser's /favicon.ico probe; frontend 1.58
# on backend 0.8.0 asks for /api/jobs, which that backend does not have (400), and its default workflow checks
# model URLs that the page's Content-Security-Policy blocks; frontends 1.27 and 1.35 log a TypeError from
# PrimeVue's AutoComplete when their node search box closes (its dialog refocuses a detached input).
KNOWN_CORE_ERRORS = (
    re.compile(r"Failed to load resource: the server responded with a status of 404"),
    re.compile(r"Failed to load resource: the server responded with a status of 400"),
    re.compile(r"\[Jobs API\]"),
    re.compile(r"Content Security Policy"),
    re.compile(r"Cannot set properties of null \(setting 'value'\)\s+at Proxy\.onChange \([^)]*primevue", re.S),
)
# ... and a frontend 1.27.10 start-up bug: the core setting Comfy.Canvas.NavigationMode's onChange sets two
# settings before they are registered.  Only accepted when no extension frame is on the stack.
CORE_STARTUP_BUG = "Cannot read properties of undefined (reading 'id')"


def chromium() -> str | None:
    for variable in ("CHROMIUM_PATH", "CHROMIUM"):
        explicit = os.environ.get(variable)
        if explicit:
            return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def playwright_from_pw_python() -> None:
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


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Recorder:
    """What the page did: console errors and warnings, GET responses and WebSocket frames."""

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
        url = (message.location or {}).get("url", "")
        ours = "hdredraw" in (text + url).lower()
        if message.type == "error":
            if not ours and any(p.search(text) for p in KNOWN_CORE_ERRORS):
                return
            self.errors.append(f"console.error: {text} @ {url}")
        elif message.type == "warning" and ours:
            self.warnings.append(text)

    def _pageerror(self, error):
        stack = getattr(error, "stack", "") or ""
        if CORE_STARTUP_BUG in str(error) and "/extensions/" not in stack and "hdredraw" not in stack.lower():
            return
        self.errors.append(f"pageerror: {error}\n{stack}")


class Shots:
    """Screenshots under $HDREDRAW_SCREENSHOT_DIR/<frontend>-<renderer>/, numbered in the order taken."""

    def __init__(self, combo: str):
        base = os.environ.get("HDREDRAW_SCREENSHOT_DIR")
        self.folder = Path(base) / combo if base else None

    def __call__(self, page, name: str) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(self.folder / f"{name}.png"))


# ------------------------------------------------------------------ the page

def prepare_settings(server, *, vue: bool, locale: str) -> None:
    """ComfyUI's own settings for the next page load: renderer, language, a returning user."""
    settings = json.loads(server.settings_file.read_text()) if server.settings_file.exists() else {}
    settings.update({"Comfy.TutorialCompleted": True, "Comfy.Locale": locale, "Comfy.VueNodes.Enabled": vue})
    settings.pop("Comfy.VueNodes.AutoScaleLayout", None)  # as users have it (on)
    server.settings_file.write_text(json.dumps(settings))


def open_app(page, server) -> None:
    page.goto(server.url + "/")
    page.wait_for_function("window.app && window.app.graph && document.querySelector('.hdredraw-badge')")


def load_workflow(page, workflow: dict[str, Any], vue: bool) -> None:
    page.evaluate("(wf) => app.loadGraphData(wf)", workflow)
    page.wait_for_function("(n) => app.graph.nodes.length === n", arg=len(workflow["nodes"]))
    settle(page, vue)


# Nodes 2.0 mounts one element per node of this graph, and it stands where the node's position says (frontend
# 1.35 scales a loaded layout by 1.2 for Nodes 2.0 and moves the elements a moment later).
VUE_IN_PLACE = """() => {
    const ds = app.canvas.ds, box = app.canvas.canvas.getBoundingClientRect();
    const els = new Map([...document.querySelectorAll('[data-node-id]')].map(e => [e.getAttribute('data-node-id'), e]));
    return app.graph.nodes.length === els.size && app.graph.nodes.every(n => {
        const e = els.get(String(n.id));
        if (!e) return false;
        const r = e.getBoundingClientRect();
        const x = (n.pos[0] + ds.offset[0]) * ds.scale + box.left, y = (n.pos[1] + ds.offset[1]) * ds.scale + box.top;
        return Math.abs(r.x - x) < 3 && r.y < y + 3 && r.y > y - 60 * ds.scale;
    });
}"""


def settle(page, vue: bool) -> None:
    """Wait until every node stands where it will stay: in Nodes 2.0 its element is where its position says, and
    no box moves for two frames."""
    if vue:
        page.wait_for_function(VUE_IN_PLACE, polling=100)
    page.wait_for_function("""() => new Promise(resolve => {
        const boxes = () => JSON.stringify([...document.querySelectorAll('[data-node-id]')].map(e => {
            const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height].map(Math.round); })
            .concat(app.graph.nodes.map(n => [...n.pos, ...n.size].map(Math.round))));
        const first = boxes();
        requestAnimationFrame(() => requestAnimationFrame(() => resolve(first === boxes())));
    })""", polling=100)


def example(name: str, image: str) -> dict[str, Any]:
    workflow = json.loads((ROOT / "example_workflows" / f"{name}.json").read_text(encoding="utf-8"))
    for n in workflow["nodes"]:
        if n.get("type") == "LoadImage" and n.get("widgets_values"):
            n["widgets_values"][0] = image
    return workflow


def open_settings(page, category: str) -> None:
    """Open ComfyUI's settings dialog on `category` (a navigation entry's visible text)."""
    page.evaluate("app.extensionManager.command.execute('Comfy.ShowSettingsDialog')")
    dialog = page.locator("[role=dialog]").last
    dialog.wait_for()
    entry = dialog.get_by_text(category, exact=True).first
    entry.scroll_into_view_if_needed()
    entry.click()


def close_dialogs(page) -> None:
    for _ in range(3):
        count = page.locator("[role=dialog]").count()
        if not count:
            return
        page.keyboard.press("Escape")
        wait_until(lambda c=count: page.locator("[role=dialog]").count() < c, 5, "the dialog to close")


FIELD_BOX = """(start) => {
  // The element that draws a form control: the first one (the control or an ancestor) with a background or
  // border, as the eye sees it.
  let el = start;
  for (let i = 0; i < 4 && el; i++, el = el.parentElement) {
    const c = getComputedStyle(el);
    if (c.backgroundColor !== 'rgba(0, 0, 0, 0)' || c.borderTopStyle !== 'none' && c.borderTopWidth !== '0px') {
      return { bg: c.backgroundColor, radius: c.borderTopLeftRadius, font: c.fontSize,
               height: el.getBoundingClientRect().height, border: c.borderTopWidth + ' ' + c.borderTopStyle };
    }
  }
  return null;
}"""


def native_field(page) -> dict[str, Any]:
    """How ComfyUI draws its own number field in the settings dialog (Comfy › Edit Token Weight)."""
    open_settings(page, "Comfy")
    row = page.locator('[data-setting-id="Comfy.EditAttention.Delta"], .setting-item:has([id="Comfy.EditAttention.Delta-label"])').first
    row.wait_for()
    control = row.locator("input").last
    return control.evaluate(FIELD_BOX)


def field_box(locator) -> dict[str, Any]:
    return locator.evaluate(FIELD_BOX)


def node_rects(page, vue: bool) -> list[dict[str, Any]]:
    """Every node's box as the user sees it (screen pixels), title bar included."""
    if vue:
        return page.evaluate("""() => [...document.querySelectorAll('[data-node-id]')].map(e => {
            const r = e.getBoundingClientRect();
            return { id: e.getAttribute('data-node-id'), x: r.left, y: r.top, w: r.width, h: r.height };
        })""")
    return page.evaluate("""() => app.graph.nodes.map(n => {
        const b = n.getBounding ? n.getBounding() : [n.pos[0], n.pos[1] - 30, n.size[0], n.size[1] + 30];
        return { id: String(n.id), x: b[0], y: b[1], w: b[2], h: b[3] };
    })""")


def overlaps(rects: list[dict[str, Any]], margin: float = 1.0) -> list[tuple[str, str]]:
    bad = []
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            if (a["x"] + a["w"] - margin > b["x"] and b["x"] + b["w"] - margin > a["x"]
                    and a["y"] + a["h"] - margin > b["y"] and b["y"] + b["h"] - margin > a["y"]):
                bad.append((a["id"], b["id"]))
    return bad


def fit_view(page, vue: bool) -> None:
    """Show the whole graph (for screenshots and for measuring every node in Nodes 2.0)."""
    page.evaluate("""async () => {
        try { await app.extensionManager.command.execute('Comfy.Canvas.FitView'); } catch {}
        app.canvas.setDirty?.(true, true);
    }""")
    settle(page, vue)


def status_text(page, node_id: str) -> str:
    """The pack's status line on node `node_id` as shown (innerText of its status widget)."""
    return page.evaluate("""(id) => {
        const node = app.graph.getNodeById(id);
        const view = node && node.__hdredrawView;
        return view && view.root.isConnected && view.root.offsetParent !== null ? view.root.innerText : '';
    }""", node_id)


RESULTS = """() => [...document.querySelectorAll('[role=option], li.p-autocomplete-option, .p-autocomplete-list li')]
    .map(e => e.innerText.replace(/\\s+/g, ' ').trim()).filter(Boolean)"""


SEARCH_INPUT = """() => { const e = document.activeElement;
    return !!e && e.tagName === 'INPUT' && e.offsetParent !== null && !e.closest('.hdredraw-ui')
        && !e.closest('[data-node-id]') && e.type !== 'number'; }"""


def search_finds(page, queries: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Open ComfyUI's node search box once, and for each (query, wanted) type the query and wait until a result
    line names `wanted`; the lines per query.  The box is closed with the same command that opened it (an Escape
    during its closing animation makes frontends 1.27 and 1.35 log an error of their own)."""
    page.evaluate("app.extensionManager.command.execute('Workspace.SearchBox.Toggle')")
    wait_until(lambda: page.evaluate(SEARCH_INPUT), 5, "the node search box")
    found = {}
    try:
        for query, wanted in queries:
            page.keyboard.press("Control+A")
            page.keyboard.type(query)
            try:
                found[query] = wait_until(
                    lambda w=wanted: (lines := page.evaluate(RESULTS)) and any(w in line for line in lines) and lines,
                    5, f"{wanted!r} among the results for {query!r}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}; shown: {page.evaluate(RESULTS)}") from None
    finally:
        page.evaluate("app.extensionManager.command.execute('Workspace.SearchBox.Toggle')")
        wait_until(lambda: not page.evaluate(RESULTS), 5, "the search box to close")
    return found
