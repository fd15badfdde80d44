// The extension's strings, in the language ComfyUI shows.
//
// They live in the locale files (locales/<lang>/main.json, key "hdredraw", generated from nodes/ui_text.py)
// and arrive once from the pack's /hdredraw/strings route.  Nothing waits for them: until they arrive t()
// returns "" and every view redraws when they do (onStrings), or when the user switches language (onLanguage).
import { app } from "../../../scripts/app.js";
import { getJSON } from "./server.js";
import { notify } from "./listeners.js";

let table = null; // { en: {ui, ops, options}, zh: {...} }
const stringListeners = new Set();
const languageListeners = new Set();
let lastLanguage = null;

/** "zh" or "en": ComfyUI's language setting (Comfy.Locale), else the browser's. */
export function lang() {
  let locale;
  try {
    locale = app.extensionManager?.setting?.get("Comfy.Locale");
  } catch {
    locale = undefined;
  }
  locale = String(locale || navigator.language || "en").toLowerCase();
  return locale.startsWith("zh") ? "zh" : "en";
}

function section(name) {
  return table?.[lang()]?.[name] ?? table?.en?.[name] ?? {};
}

/** The UI string `key` with {name} placeholders filled in ("" until the strings have arrived). */
export function t(key, vars = {}) {
  const text = section("ui")[key] ?? "";
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

export function loaded() {
  return table !== null;
}

/** An operation's title (e.g. "seamless" → "Seamless Tile" / "无缝拼图"). */
export function opTitle(op) {
  return section("ops")[op] ?? op ?? "";
}

/** The label a combo value shows in the current language, or the value itself. */
export function optionLabel(nodeType, input, value) {
  return section("options")[nodeType]?.[input]?.[value] ?? value;
}

/** Whether any combo of this node type has labels that differ from its values. */
export function hasOptionLabels(nodeType, input) {
  return Boolean(table?.zh?.options?.[nodeType]?.[input] || table?.en?.options?.[nodeType]?.[input]);
}

export function onStrings(listener) {
  stringListeners.add(listener);
  return () => stringListeners.delete(listener);
}

export function onLanguage(listener) {
  languageListeners.add(listener);
  return () => languageListeners.delete(listener);
}

/** Start loading the strings (once); resolves when they are there (or failed: then t() stays ""). */
export const stringsReady = getJSON("/hdredraw/strings")
  .then((body) => {
    table = body && typeof body === "object" ? body : {};
  })
  .catch((error) => {
    table = {};
    console.warn("[HD Redraw] strings unavailable", error);
  })
  .finally(() => notify(stringListeners));

/** Call once from setup(): follow ComfyUI's language setting without a reload. */
export function watchLanguage() {
  lastLanguage = lang();
  const check = () => {
    const now = lang();
    if (now !== lastLanguage) {
      lastLanguage = now;
      notify(languageListeners);
    }
  };
  try {
    // Settings fire "<id>.change" before storing the new value, hence the timeout.
    app.ui?.settings?.addEventListener?.("Comfy.Locale.change", () => setTimeout(check, 0));
  } catch {
    // no settings events in this front end: the check below still catches the change
  }
  document.addEventListener("visibilitychange", check);
  window.addEventListener("focus", check);
  return check;
}
