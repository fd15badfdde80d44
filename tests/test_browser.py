"""The web extension in real ComfyUI front ends, driven in headless Chromium (opt-in, tests/browser_kit.py).

Runs on every ComfyUI tests/real_comfyui.py finds, front ends included (`find_installs(frontends=True)`):
frontend 1.27 (ComfyUI 0.3.64), 1.35 (0.8.0) and the newest (1.58 on 0.8.0), each with the classic canvas and
with Nodes 2.0 (the Vue renderer; 1.27 does not offer it).  What a user sees is asserted: settings drawn like
ComfyUI's own (item 2), the final status kept after the run and a reload with a short task id and the charge
(items 1, 7, 9), example workflows without overlapping nodes (item 3), Chinese everywhere (item 4) and node
search in Chinese (item 6), with no console error from the pack.  Screenshots go to
$HDREDRAW_SCREENSHOT_DIR/<frontend>-<renderer>/ (CI keeps ci-artifacts/screenshots/).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from browser_kit import (
    RESULTS,
    SEARCH_INPUT,
    Recorder,
    Shots,
    chromium,
    close_dialogs,
    example,
    field_box,
    fit_view,
    load_workflow,
    native_field,
    node_rects,
    open_app,
    open_settings,
    overlaps,
    playwright_from_pw_python,
    prepare_settings,
    search_finds,
    settle,
    status_text,
    wait_until,
)
from real_comfyui import TEST_IMAGE, find_installs, png_bytes

SECRET = "emulator-key"  # the emulator's HD Redraw user key; it must never show up anywhere but the config file
CLIENT = {"X-HDRedraw-Client": "1"}  # what web/hdredraw/server.js sends with every request to the pack's routes
COPY_WIDGET = "hdredraw_copy_task_id"
EXAMPLES = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "example_workflows").glob("*.json"))

if chromium() is None:
    pytest.skip("browser test: no Chromium found (run ../shared/comfyui/setup.sh --browser, or set CHROMIUM)",
                allow_module_level=True)
try:
    import playwright.sync_api  # noqa: F401
except ImportError:
    playwright_from_pw_python()
sync_api = pytest.importorskip("playwright.sync_api", reason="browser test: pip install playwright (driver only), "
                               "or run ../shared/comfyui/setup.sh --browser and export PW_PYTHON")


def _combos() -> list:
    installs, problems = find_installs(frontends=True)
    params = []
    for install in installs:
        major_minor = tuple(int(x) for x in re.findall(r"\d+", install.frontend)[:2]) or (0, 0)
        params.append(pytest.param((install, False), id=f"{install.label}-classic"))
        marks = [] if major_minor >= (1, 35) else [pytest.mark.skip(
            reason=f"frontend {install.frontend} offers no Nodes 2.0: Comfy.VueNodes.Enabled is not a setting there "
                   "and its unfinished Vue renderer draws neither DOM widgets nor ComfyUI's own progress text")]
        params.append(pytest.param((install, True), id=f"{install.label}-nodes2", marks=marks))
    return params or [pytest.param(None, id="none", marks=pytest.mark.skip(
        reason="real ComfyUI: no install found (" + "; ".join(problems) + ")"))]


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium(), args=[], headless=True)
        yield instance
        instance.close()


@pytest.fixture(params=_combos())
def combo(request, comfyui_pool, emu, browser):
    """(server, vue, page, recorder, shots) for one front end and renderer; the emulator answers at once."""
    install, vue = request.param
    server = comfyui_pool.get(install)
    server.reset()
    emu.status_cache, emu.processing_time = 0.0, 0.5
    server.emulator = emu
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(20000)
    recorder = Recorder(page)
    shots = Shots(f"{install.label}-fe{install.frontend}-{'nodes2' if vue else 'classic'}")
    yield server, vue, page, recorder, shots
    context.close()
    server.reset()
    assert recorder.errors == [], "\n".join(recorder.errors)
    assert recorder.warnings == [], "\n".join(recorder.warnings)


def _status(server) -> dict:
    answer = server.get("/hdredraw/status", CLIENT)
    assert answer.status == 200, (answer.status, answer.body[:300])
    return answer.json()


def _store_key(server) -> None:
    headers = {**CLIENT, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert server.post("/hdredraw/settings", {"hdredraw_user_key": SECRET}, headers).status == 200


def _start(combo, locale: str = "en"):
    server, vue, page, recorder, shots = combo
    prepare_settings(server, vue=vue, locale=locale)
    open_app(page, server)
    assert page.evaluate("!!(app.extensionManager.setting.get('Comfy.VueNodes.Enabled'))") is vue
    return server, vue, page, recorder, shots


def _fresh_variation(page) -> None:
    page.evaluate("""(v) => app.graph.nodes.forEach(n => n.widgets?.forEach(w => {
        if (w.name === 'variation') w.value = v; }))""", time.time_ns() % 2**31)


def _run_prompt(page) -> None:
    page.evaluate("""async () => {
        const { api } = await import('/scripts/api.js');
        window.__hdr = { done: null };
        const end = (what) => () => { window.__hdr.done = what; };
        api.addEventListener('execution_success', end('success'), { once: true });
        api.addEventListener('execution_error', (e) => { window.__hdr.done = 'error: ' + e.detail.exception_message; },
                             { once: true });
        await app.queuePrompt(0, 1);
    }""")
    page.wait_for_function("window.__hdr.done !== null", timeout=60000)
    assert page.evaluate("window.__hdr.done") == "success", page.evaluate("window.__hdr.done")


def _node_id(page, node_type: str) -> str:
    return page.evaluate("(t) => String(app.graph.nodes.find(n => n.comfyClass === t).id)", node_type)


# ------------------------------------------------------------------ item 2: settings drawn like ComfyUI's own

def test_settings_look_native_and_keys_stay_write_only(combo):
    server, vue, page, recorder, shots = _start(combo)
    native = native_field(page)
    close_dialogs(page)
    open_settings(page, "HD Redraw")
    for setting in _status(server)["schema"]:
        page.locator(f'[data-hdredraw-setting="{setting["name"]}"]').wait_for()
        assert page.locator(f'[id="HDRedraw.{setting["name"]}-label"]').count() == 1, setting["name"]
    ours = field_box(page.locator('[data-hdredraw-input="concurrency"]'))
    assert (ours["bg"], ours["radius"], ours["font"]) == (native["bg"], native["radius"], native["font"]), (ours, native)
    assert abs(ours["height"] - native["height"]) <= 4, (ours, native)
    save = field_box(page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-save'))
    assert save["radius"] == native["radius"] and save["bg"] not in ("rgb(239, 239, 239)", "rgb(240, 240, 240)"), save

    # a value the environment provides is shown locked: read-only, a lock, a dashed outline
    base_url = page.locator('[data-hdredraw-input="hdredraw_base_url"]')
    assert base_url.input_value() == server.emulator.base_url and base_url.is_disabled()
    assert page.locator('[data-hdredraw-setting="hdredraw_base_url"] .pi-lock').is_visible()
    assert "dashed" in field_box(base_url)["border"]
    assert "HDREDRAW_BASE_URL" in page.locator('[data-hdredraw-setting="hdredraw_base_url"]').inner_text()
    shots(page, "01-settings")

    # a plain setting goes to the pack's config file, not to comfy.settings.json; Reset removes it
    concurrency = page.locator('[data-hdredraw-input="concurrency"]')
    concurrency.fill("2")
    concurrency.press("Enter")
    wait_until(lambda: _status(server)["settings"]["concurrency"] == {"value": 2, "source": "file"}, 10, "saved")
    page.locator('[data-hdredraw-setting="concurrency"] .hdredraw-reset').click()
    wait_until(lambda: _status(server)["settings"]["concurrency"]["source"] == "default", 10, "reset")

    # the user key: typed into the password field, stored write-only, removable with confirmation
    key_input = page.locator('[data-hdredraw-secret="hdredraw_user_key"]')
    assert key_input.get_attribute("type") == "password"
    key_input.fill(SECRET)
    page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-save').click()
    note = page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-note')
    wait_until(lambda: "…-key" in note.inner_text(), 10, "the key's masked hint")
    assert key_input.input_value() == ""
    assert _status(server)["settings"]["hdredraw_user_key"] == {
        "set": True, "hint": "…-key", "source": "file", "origin": server.emulator.base_url, "stale": False}
    assert json.loads(server.config_file.read_text())["hdredraw_user_key"] == SECRET
    assert server.config_file.stat().st_mode & 0o077 == 0
    shots(page, "02-settings-key-saved")
    _check_nothing_leaked(server, recorder, page)
    page.locator('[data-hdredraw-setting="hdredraw_user_key"] .hdredraw-clear').click()
    page.locator("[role=dialog]").last.get_by_role("button", name=re.compile("Delete|删除")).click()
    wait_until(lambda: _status(server)["settings"]["hdredraw_user_key"]["set"] is False, 10, "the key removed")
    close_dialogs(page)


def _check_nothing_leaked(server, recorder, page) -> None:
    text = page.evaluate("""async () => {
        const prompt = await app.graphToPrompt();
        return JSON.stringify([app.graph.serialize(), prompt.workflow, prompt.output, localStorage, sessionStorage]);
    }""")
    assert SECRET not in text
    settings = server.settings_file.read_text()
    assert SECRET not in settings and not [k for k in json.loads(settings) if k.startswith("HDRedraw.")]
    for route in ("/settings", "/api/settings", "/settings/HDRedraw.hdredraw_user_key", "/hdredraw/status",
                  "/hdredraw/tasks?limit=50", "/hdredraw/strings", "/history", "/queue", "/object_info"):
        answer = server.get(route, CLIENT)
        assert SECRET.encode() not in answer.body, route
    for response in recorder.responses:
        try:
            body = response.body()
        except Exception:  # redirects and evicted bodies have none
            continue
        assert SECRET.encode() not in body, response.url
    assert not [f for f in recorder.frames if SECRET in f]


# ------------------------------------------------------------------ items 1, 7, 9: status, cost, task ids

def test_final_status_stays_with_short_ids_and_the_charge(combo):
    server, vue, page, recorder, shots = _start(combo)
    _store_key(server)
    load_workflow(page, example("vectorize_eps", TEST_IMAGE), vue)  # Vectorize is an output node
    node = _node_id(page, "HDRedraw_Vectorize")
    before = wait_until(lambda: status_text(page, node), 10, "the price line before a run")
    assert "≈" in before and "estimate" in before or "not yet known" in before, before

    shape = _serialized(page)
    for _ in (1, 2):  # the second run has an earlier balance to compare with: its charge is a fact
        _fresh_variation(page)
        _run_prompt(page)
        page.wait_for_function("""(id) => { const v = app.graph.getNodeById(id).__hdredrawView;
            return v && /Charged|charge not known|Charge not known/i.test(v.root.innerText); }""", arg=node)
    shown = status_text(page, node)
    submitted = [s["task_id"] for s in server.emulator.submissions]
    last = submitted[-1]
    assert "Done" in shown and f"{last[:8]}…" in shown and last not in shown, shown  # a short id, not the whole
    assert "Charged: 1 task (from the balance the service reported)" in shown, shown
    assert _serialized(page) == shape  # the status is in neither the workflow nor the prompt
    account = server.emulator.account(SECRET)
    badge = page.locator(".hdredraw-badge")
    wait_until(lambda: f"{account['remaining_count']} tasks · ¥{account['remaining_money']}" in badge.inner_text(), 10,
               "the balance in the badge")
    fit_view(page, vue)
    shots(page, "03-after-run")

    # the short id copies the whole id; so does the node's button
    page.locator(f'[data-task-id="{last}"]').first.click()
    wait_until(lambda: page.evaluate("navigator.clipboard.readText()") == last, 5, "the full id from the status")
    page.evaluate("navigator.clipboard.writeText('')")
    _click_copy_button(page, node, vue)
    wait_until(lambda: page.evaluate("navigator.clipboard.readText()") == last, 5, "the full id from the button")

    # after the run the status is still there, and after a reload too
    page.reload()
    page.wait_for_function("window.app && app.graph && app.graph.nodes.length > 0")
    restored = wait_until(lambda: "Done" in (text := status_text(page, node)) and text, 10, "the status after reload")
    assert f"{last[:8]}…" in restored and "Last run" in restored, restored
    shots(page, "04-after-reload")

    # the sidebar: the task with its charge, today's spend
    page.locator(".hdredraw-badge").click()
    row = page.locator(f'.hdredraw-panel li[data-task-id="{last}"]')
    row.wait_for()
    assert "Vectorize (EPS) · done" in row.inner_text() and "1 task" in row.inner_text()
    assert "new tasks" in page.locator(".hdredraw-today").inner_text()
    shots(page, "05-sidebar")


def _serialized(page) -> list:
    return page.evaluate("""async () => {
        const prompt = await app.graphToPrompt();
        return app.graph.nodes.filter(n => (n.comfyClass || '').startsWith('HDRedraw_'))
            .map(n => [n.serialize().widgets_values.length, Object.keys(prompt.output[String(n.id)]?.inputs || {})]);
    }""")


def _click_copy_button(page, node_id: str, vue: bool) -> None:
    if vue:  # at full size and in view: Nodes 2.0 draws no widgets on far-away or tiny nodes
        page.evaluate("""(id) => { app.canvas.ds.scale = 1; app.canvas.centerOnNode(app.graph.getNodeById(id));
                                   app.canvas.setDirty(true, true); }""", node_id)
        settle(page, vue)
        page.locator(f'[data-node-id="{node_id}"] button', has_text="task").first.click()
        return
    point = page.evaluate("""([id, name]) => {
        const node = app.graph.getNodeById(id);
        app.canvas.centerOnNode?.(node); app.canvas.setDirty(true, true); app.canvas.draw(true, true);
        const w = node.widgets.find(w => w.name === name);
        const [x, y] = app.canvas.ds.convertOffsetToCanvas([node.pos[0] + node.size[0] / 2,
                                                           node.pos[1] + w.y + (w.computedHeight || 20) / 2]);
        const r = app.canvas.canvas.getBoundingClientRect();
        return { x: r.left + x, y: r.top + y };
    }""", [node_id, COPY_WIDGET])
    page.mouse.click(point["x"], point["y"])


# ------------------------------------------------------------------ item 3: no overlapping nodes

def test_example_workflows_do_not_overlap(combo):
    server, vue, page, recorder, shots = _start(combo)
    for name in EXAMPLES:
        load_workflow(page, example(name, TEST_IMAGE), vue)
        fit_view(page, vue)
        bad = overlaps(node_rects(page, vue))
        if name == "garment_to_vector" or bad:
            shots(page, f"06-layout-{name}")
        assert bad == [], f"{name}: overlapping nodes {bad}: " + json.dumps(page.evaluate(
            "app.graph.nodes.map(n => [n.id, n.type, n.pos.map(Math.round), n.size.map(Math.round)])"))


# ------------------------------------------------------------------ items 4 and 6: Chinese

def test_chinese_everywhere_and_search_in_chinese(combo):
    server, vue, page, recorder, shots = _start(combo)
    if server.install.frontend >= "1.5":  # search words reach the newest front end in any language
        search_finds(page, [("去水印", "Remove Watermark"), ("印花", "Extract Print Pattern"), ("高清", "HD Redraw")])
    server, vue, page, recorder, shots = _start(combo, locale="zh")
    _store_key(server)

    # settings: labels, groups, notes
    open_settings(page, "高清重绘")
    dialog = page.locator("[role=dialog]").last
    for text in ("HiDream API 令牌", "服务与密钥", "限制", "由环境变量 HDREDRAW_BASE_URL 提供，优先于此处的设置。"):
        assert dialog.get_by_text(text).count() >= 1, text
    shots(page, "07-zh-settings")
    close_dialogs(page)

    # nodes: names, combo labels, the status line after a run, in one language with full-width punctuation
    load_workflow(page, example("seamless_tile", TEST_IMAGE), vue)
    node = _node_id(page, "HDRedraw_Seamless")
    shown = page.evaluate("""(id) => { const w = app.graph.getNodeById(id).widgets.find(w => w.name === 'direction');
        return w.options.getOptionLabel ? w.options.getOptionLabel(w.value) : w._displayValue; }""", node)
    assert shown == "四周无缝" and page.evaluate("""(id) => app.graph.getNodeById(id).widgets
        .find(w => w.name === 'direction').value""", node) == "all sides"  # the value (data) stays
    if vue:
        assert page.locator(f'[data-node-id="{node}"]').get_by_text("四周无缝").count() >= 1
    else:
        assert page.evaluate("""(id) => { const w = app.graph.getNodeById(id).widgets.find(w => w.name === 'direction');
            return w._displayValue; }""", node) == "四周无缝"
    _fresh_variation(page)
    _run_prompt(page)
    text = wait_until(lambda: "完成" in (t := status_text(page, node)) and t, 10, "the status in Chinese")
    assert "task" not in text and "Done" not in text and not re.search(r"[\u4e00-\u9fff][,;:()]|[,;:()][\u4e00-\u9fff]",
                                                                         text), text
    fit_view(page, vue)
    shots(page, "08-zh-node")

    # sidebar lines and the badge
    page.locator(".hdredraw-badge").click()
    line = page.locator(".hdredraw-panel .hdredraw-task-line").first
    line.wait_for()
    assert line.inner_text().startswith("无缝拼图 · 完成"), line.inner_text()
    assert "次" in page.locator(".hdredraw-badge").inner_text()
    shots(page, "09-zh-sidebar")

    # search in Chinese: display names (every front end, Chinese UI) and search words
    search_finds(page, [("去水印", "去水印"), ("高清", "高清重绘"), ("布纹", "移除布纹"), ("烫钻", "移除烫钻"),
                        ("扩图", "扩图"), ("无缝", "无缝拼图"), ("矢量", "矢量"), ("放大", "放大"), ("印花", "提取印花")])
    page.evaluate("app.extensionManager.command.execute('Workspace.SearchBox.Toggle')")
    wait_until(lambda: page.evaluate(SEARCH_INPUT), 5, "the node search box")
    page.keyboard.type("印花")
    wait_until(lambda: page.evaluate(RESULTS), 5, "results")
    shots(page, "10-zh-search")
    page.evaluate("app.extensionManager.command.execute('Workspace.SearchBox.Toggle')")


# ------------------------------------------------------------------ item 10: recipes mixed with local work

RUNS_ON_THE_EMULATOR = {"scale_then_redraw": {"redraw"}, "print_on_mockup": {"extract_pattern"},
                        "svg_print_blend": {"hidream_vectorize"}}
NEEDS_WEIGHTS = {"local_upscale_then_redraw": "RealESRGAN_x4plus.pth"}


def test_recipes_that_mix_local_nodes_run_end_to_end(combo):
    server, vue, page, recorder, shots = combo
    if vue:
        pytest.skip("the recipes run once per front end, on the classic canvas (Nodes 2.0 draws the same graph)")
    picture = "hdredraw_recipe.png"  # big enough to place a print on and to blend with
    (server.input_dir / picture).write_bytes(png_bytes(640, 480))
    server, vue, page, recorder, shots = _start(combo)
    _store_key(server)
    headers = {**CLIENT, "Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert server.post("/hdredraw/settings", {"hidream_token": server.emulator.hidream_token}, headers).status == 200
    for name, ops in RUNS_ON_THE_EMULATOR.items():
        before = len(server.emulator.submissions)
        load_workflow(page, example(name, picture), vue)
        _fresh_variation(page)
        _run_prompt(page)
        done = {s["op"] for s in server.emulator.submissions[before:]}
        assert ops <= done, (name, done)
        fit_view(page, vue)
        shots(page, f"11-recipe-{name}")
    known = set(server.get("/object_info").json()) | {"Note", "MarkdownNote"}
    for name, weights in NEEDS_WEIGHTS.items():  # no weights here: loading and wiring only
        workflow = example(name, picture)
        assert {n["type"] for n in workflow["nodes"]} <= known
        load_workflow(page, workflow, vue)
        wired = page.evaluate("""() => ({ types: app.graph.nodes.map(n => n.type),
            links: app.graph.links instanceof Map ? app.graph.links.size : Object.keys(app.graph.links || {}).length,
            inputs: app.graph.nodes.map(n => (n.inputs || []).filter(i => i.link != null).length) })""")
        assert sorted(wired["types"]) == sorted(n["type"] for n in workflow["nodes"]), wired
        assert wired["links"] == len(workflow["links"]) == sum(wired["inputs"]), wired
        assert any(weights in (n.get("widgets_values") or [""])[0] for n in workflow["nodes"] if n["type"] == "Note")
        fit_view(page, vue)
        shots(page, f"12-recipe-{name}-wiring")
