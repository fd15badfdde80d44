// Small DOM and formatting helpers shared by the views.
import { app } from "../../../scripts/app.js";
import { lang, t } from "./strings.js";

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of [].concat(children)) if (child) node.append(child);
  return node;
}

/** An error as the user should read it: the route's bilingual message, else what happened and where to look. */
export function describeError(error) {
  if (error?.localized) {
    return error.localized(lang()) || (error.status ? t("httpFailed", { route: error.route, status: error.status })
                                                    : String(error.message || error));
  }
  return String(error?.message || error);
}

export function toast(severity, summary, detail, life = 3000) {
  try {
    app.extensionManager.toast.add({ severity, summary, detail, life });
  } catch {
    // no toast service: nothing else to do
  }
}

export function runCommand(id) {
  try {
    Promise.resolve(app.extensionManager.command.execute(id)).catch(() => {});
  } catch {
    // no such command in this front end
  }
}

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // fall through to the selection-based copy (plain-http access from another machine)
  }
  const area = el("textarea", { style: "position:fixed;top:0;left:0;opacity:0" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

export async function copyWithToast(text) {
  if (await copyText(text)) toast("success", t("copied"), text, 2500);
  else toast("error", t("copyFailed"), text, 6000);
}

// Task ids as the services issue them: 32 hex digits (HD Redraw) or a UUID (HiDream).
export const TASK_ID_PATTERN = /\b[0-9a-f]{8}(?:-?[0-9a-f]{4}){3}-?[0-9a-f]{12}\b/gi;

/** The start of a long task id, enough to tell tasks apart on a node ("6d7ac6cc…"). */
export function shortId(id) {
  return id && id.length > 12 ? `${id.slice(0, 8)}…` : id || "";
}

export function formatTime(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const locale = lang() === "zh" ? "zh-CN" : undefined;
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString(locale) : d.toLocaleString(locale);
}

export function formatNumber(value) {
  if (value === null || value === undefined || value === "") return "?";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/\.?0+$/, "");
}
