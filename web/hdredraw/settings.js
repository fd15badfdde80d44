// The pack's settings in ComfyUI's settings dialog.  Keys are write-only.
//
// Secrets never pass through ComfyUI's own setting store: each HD Redraw setting is a render function (a
// custom setting `type`) that shows the value and source from GET /hdredraw/status and writes through
// POST /hdredraw/settings into the pack's owner-only config file; the element never calls the setter ComfyUI
// gives it, so comfy.settings.json, the workflow and every GET answer never hold a key.  The settings
// themselves come from engine/config.py SETTINGS (generated.js); their labels, tooltips and group names are
// translated by ComfyUI from the pack's locale files.
import { app } from "../../../scripts/app.js";
import { describeError, el, toast } from "./dom.js";
import { DATA } from "./generated.js";
import { currentError, currentStatus, onStatus, refreshStatusSoon, saveSettings } from "./state.js";
import { lang, onStrings, t } from "./strings.js";
import { injectStyle } from "./style.js";

const SETTING_PREFIX = "HDRedraw.";
const views = new Set();

function entryOf(name) {
  return currentStatus()?.settings?.[name] || {};
}

/** The setting's label as ComfyUI shows it (its translation from settings.json when there is one). */
function labelOf(setting) {
  const label = document.getElementById(`${SETTING_PREFIX}${setting.name}-label`)?.textContent?.trim();
  return label || setting.label;
}

function errorText(error) {
  return describeError(error);
}

function sourceName(source) {
  return t({ env: "sourceEnv", file: "sourceFile", default: "sourceDefault" }[source] || "sourceDefault");
}

/** The reason the settings cannot be shown (GET /hdredraw/status failed and nothing was ever read), or "". */
function unavailable() {
  const error = currentError();
  return !currentStatus() && error ? errorText(error) : "";
}

function button(label, onclick, extra) {
  return el("button", { type: "button", class: `hdredraw-btn ${extra}`, text: label, onclick });
}

async function commit(setting, value, view) {
  try {
    await saveSettings({ [setting.name]: value });
    const removed = value === "";
    toast("success", removed ? t("removed") : t("saved"),
          t(removed ? "removedDetail" : "savedDetail", { name: labelOf(setting) }), 2500);
  } catch (error) {
    toast("error", t("saveFailed"), errorText(error), 8000);
    view.update();
  }
}

function renderSecret(setting, label) {
  const input = el("input", {
    type: "password", class: "hdredraw-input", autocomplete: "new-password", spellcheck: "false",
    "data-hdredraw-secret": setting.name, "aria-label": label,
  });
  const saveButton = button("", null, "hdredraw-save");
  saveButton.type = "submit";
  const clearButton = button("", () => void clear(), "hdredraw-clear");
  const note = el("div", { class: "hdredraw-note" });
  const form = el("form", { class: "hdredraw-row", autocomplete: "off" }, [input, saveButton, clearButton]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void save();
  });
  const element = el("div", { class: "hdredraw-ui hdredraw-setting", "data-hdredraw-setting": setting.name },
                     [form, note]);

  async function save() {
    // The typed value lives only in the input until the POST; it is never kept, logged or put in a setting.
    const value = input.value.trim();
    if (!value) {
      toast("warn", labelOf(setting), t("nothingTyped"));
      return;
    }
    input.value = "";
    await commit(setting, value, view);
  }

  async function clear() {
    const message = t("confirmClearMessage", { name: labelOf(setting) });
    let ok = true;
    try {
      ok = await app.extensionManager.dialog.confirm({ title: t("confirmClearTitle"), message, type: "delete" });
    } catch {
      ok = window.confirm(message);
    }
    if (ok) await commit(setting, "", view);
  }

  const view = {
    element,
    update() {
      const current = entryOf(setting.name);
      const env = current.source === "env";
      const stale = current.set && current.stale;
      element.classList.toggle("hdredraw-locked", env);
      input.disabled = env;
      saveButton.disabled = env;
      saveButton.textContent = t("save");
      clearButton.textContent = t("clear");
      input.placeholder = env ? "" : t("keyPlaceholder");
      clearButton.style.display = current.source === "file" ? "" : "none";
      note.className = "hdredraw-note" + (env || stale ? " hdredraw-env" : current.set ? " hdredraw-set" : "");
      note.title = stale ? (lang() === "zh" && current.error_zh) || current.error || "" : "";
      const hint = current.hint || "…";
      if (unavailable()) {
        note.className = "hdredraw-note hdredraw-env";
        note.textContent = unavailable();
      } else if (env) note.textContent = t("keyEnv", { hint, env: setting.env });
      else if (stale) note.textContent = t("keyStale", { origin: current.origin || "?" });
      else if (current.set && current.origin) {
        note.textContent = t("keyBound", { hint, source: sourceName(current.source), origin: current.origin });
      } else if (current.set) note.textContent = t("keySet", { hint, source: sourceName(current.source) });
      else note.textContent = t("keyUnset");
    },
  };
  return view;
}

function renderPlain(setting, label) {
  const numeric = setting.type === "int" || setting.type === "float";
  const input = el("input", {
    type: numeric ? "number" : "text", class: "hdredraw-input", autocomplete: "off", spellcheck: "false",
    "data-hdredraw-input": setting.name, "aria-label": label,
  });
  if (numeric) {
    input.step = setting.type === "int" ? "1" : "any";
    if (setting.min !== null) input.min = setting.min;
    if (setting.max !== null) input.max = setting.max;
  } else if (/url$/.test(setting.name)) {
    input.placeholder = "https://…";
    input.classList.add("hdredraw-wide");
  }
  const lock = el("i", { class: "pi pi-lock hdredraw-lock", "aria-hidden": "true" });
  const field = el("span", { class: "hdredraw-field" }, [lock, input]);
  field.style.position = "relative";
  const resetButton = button("", () => void commit(setting, "", view), "hdredraw-reset");
  const note = el("div", { class: "hdredraw-note" });
  const element = el("div", { class: "hdredraw-ui hdredraw-setting", "data-hdredraw-setting": setting.name }, [
    el("div", { class: "hdredraw-row" }, [field, resetButton]), note,
  ]);

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") input.blur();
  });
  input.addEventListener("change", () => {
    const current = entryOf(setting.name);
    if (current.source === "env") return view.update(); // never overwrite a value the environment provides
    const raw = input.value.trim();
    if (raw === String(current.value ?? "")) return undefined;
    if (raw === "") return commit(setting, "", view);
    const value = numeric ? Number(raw) : raw;
    if (numeric && !Number.isFinite(value)) return view.update();
    return commit(setting, value, view);
  });

  const view = {
    element,
    update() {
      const current = entryOf(setting.name);
      const env = current.source === "env";
      if (document.activeElement !== input) input.value = current.value ?? "";
      input.disabled = env;
      input.readOnly = env;
      field.classList.toggle("hdredraw-locked", env);
      lock.style.display = env ? "" : "none";
      input.title = env ? t("lockedTip", { env: setting.env }) : "";
      resetButton.textContent = t("reset");
      resetButton.style.display = current.source === "file" ? "" : "none";
      note.className = "hdredraw-note" + (env || unavailable() ? " hdredraw-env" : "");
      note.textContent = unavailable() || (env ? t("srcEnv", { env: setting.env })
        : current.source === "file" ? t("srcFile") : t("srcDefault"));
    },
  };
  return view;
}

function mount(setting, label) {
  injectStyle();
  const view = setting.secret ? renderSecret(setting, label) : renderPlain(setting, label);
  view.update();
  views.add(view);
  refreshStatusSoon();
  return view.element;
}

function updateAll() {
  for (const view of [...views]) {
    if (!view.element.isConnected && view.seen) views.delete(view); // the dialog was closed
    else {
      view.seen = view.seen || view.element.isConnected;
      view.update();
    }
  }
}

onStatus(updateAll);
onStrings(updateAll);

/** ComfyUI setting definitions for every pack setting (known without any request: generated.js). */
export function settingDefinitions() {
  const count = DATA.settings.length;
  return DATA.settings.map((setting, index) => ({
    id: SETTING_PREFIX + setting.name,
    name: setting.label,
    tooltip: setting.tooltip,
    category: [DATA.category, setting.group, setting.name],
    // A render function: ComfyUI shows the returned element and stores nothing, because the element never
    // calls the setter it is given.
    type: (label) => mount(setting, label),
    defaultValue: "",
    sortOrder: count - index,
  }));
}

/** Say once, after start-up, when the pack's settings cannot be read (the dialog shows the same message). */
export function reportStatusError() {
  const error = currentError();
  if (error) toast("error", t("statusFailed"), errorText(error), 10000);
}

export function updateSettingViews() {
  updateAll();
}
