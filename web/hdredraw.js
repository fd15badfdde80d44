// ComfyUI-HDRedraw front end: settings (keys write-only), balance badge, recent tasks, "Copy task id".
//
// Secrets never pass through ComfyUI's own setting store: every HD Redraw setting is rendered by this file
// (a custom setting `type` function), reads its value from GET /hdredraw/status and writes through
// POST /hdredraw/settings into the pack's owner-only config file.  ComfyUI's comfy.settings.json, the
// workflow and every GET response therefore never hold a key.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EXTENSION = "HDRedraw.Web";
const SETTING_PREFIX = "HDRedraw.";
const CATEGORY = "HD Redraw";
const NODE_PREFIX = "HDRedraw_";
const LOCAL_NODES = new Set(["HDRedraw_RenderSVG"]); // run no remote task, so have no task id
const SIDEBAR_ID = "hdredraw";
const COPY_WIDGET = "hdredraw_copy_task_id";
const PROGRESS_TEXT_WIDGET = "$$node-text-preview"; // ComfyUI's own, for send_progress_text

// ------------------------------------------------------------------ strings

const STRINGS = {
  en: {
    groupAccount: "Connection and keys",
    groupLimits: "Limits",
    save: "Save",
    clear: "Clear",
    reset: "Reset",
    keyPlaceholder: "Enter a new value",
    keySet: "Set ({hint}) · {source}",
    keyUnset: "Not set",
    keyEnv: "Set ({hint}) by environment variable {env}, which wins over this field.",
    keyBound: "Set ({hint}) · {source} · for {origin}",
    keyStale: "Not usable: entered for {origin}, but the base URL now points elsewhere. Enter the key again to use it there.",
    srcEnv: "Set by environment variable {env}, which wins over this field.",
    srcFile: "Saved in the pack's config file",
    srcDefault: "Default",
    envVar: "Environment variable: {env} (wins when set).",
    defaultIs: "Default: {value}.",
    saved: "Saved",
    savedDetail: "{name} stored in the pack's config file.",
    removed: "Removed",
    removedDetail: "{name} removed from the pack's config file.",
    saveFailed: "HD Redraw setting not saved",
    nothingTyped: "Type a value first.",
    confirmClearTitle: "Remove the saved value?",
    confirmClearMessage: "{name} will be removed from the pack's config file.",
    statusFailed: "HD Redraw: cannot read the pack's settings",
    unavailableName: "Settings unavailable",
    copyTaskId: "Copy task id",
    copyTaskIdShort: "Copy task id: {id}",
    copied: "Task id copied",
    copyFailed: "Could not copy to the clipboard",
    noTaskId: "No task id yet: it appears once this node has started a task.",
    balanceUnknown: "HD Redraw: –",
    balanceTip: "HD Redraw balance: {count} tasks, ¥{money} left (as of {at}). Click for recent tasks.",
    balanceTipUnknown: "HD Redraw balance: shown after the first HD Redraw task. Click for recent tasks.",
    tasksLeft: "{count} tasks",
    sidebarTooltip: "HD Redraw: balance and recent tasks",
    balance: "Balance",
    asOf: "as of {at}",
    recentTasks: "Recent tasks",
    noTasks: "No tasks yet.",
    refresh: "Refresh",
    openSettings: "Settings",
    configFile: "Config file: {path}",
    copy: "Copy",
    loadFailed: "Could not load: {error}",
    httpFailed: "{route} answered HTTP {status}; the ComfyUI console shows why.",
  },
  zh: {
    groupAccount: "服务与密钥",
    groupLimits: "限制",
    save: "保存",
    clear: "清除",
    reset: "恢复默认",
    keyPlaceholder: "输入新值",
    keySet: "已设置({hint})· {source}",
    keyUnset: "未设置",
    keyEnv: "已由环境变量 {env} 设置({hint}),优先于此处的设置。",
    keyBound: "已设置({hint})· {source} · 用于 {origin}",
    keyStale: "不可用:此密钥是为 {origin} 填写的,但接口地址已改为其他地址。要在新地址使用,请重新填写密钥。",
    srcEnv: "由环境变量 {env} 提供,优先于此处的设置。",
    srcFile: "保存在插件的配置文件中",
    srcDefault: "默认值",
    envVar: "环境变量:{env}(设置后优先)。",
    defaultIs: "默认值:{value}。",
    saved: "已保存",
    savedDetail: "{name} 已写入插件配置文件。",
    removed: "已删除",
    removedDetail: "{name} 已从插件配置文件中删除。",
    saveFailed: "HD Redraw 设置未保存",
    nothingTyped: "请先输入内容。",
    confirmClearTitle: "删除已保存的值?",
    confirmClearMessage: "将从插件配置文件中删除 {name}。",
    statusFailed: "HD Redraw:无法读取插件设置",
    unavailableName: "设置不可用",
    copyTaskId: "复制任务ID",
    copyTaskIdShort: "复制任务ID:{id}",
    copied: "任务ID已复制",
    copyFailed: "无法复制到剪贴板",
    noTaskId: "暂无任务ID:此节点开始任务后才会有。",
    balanceUnknown: "HD Redraw:–",
    balanceTip: "HD Redraw 余额:剩余 {count} 次,¥{money}(截至 {at})。点击查看最近任务。",
    balanceTipUnknown: "HD Redraw 余额:首个 HD Redraw 任务后显示。点击查看最近任务。",
    tasksLeft: "{count} 次",
    sidebarTooltip: "HD Redraw:余额与最近任务",
    balance: "余额",
    asOf: "截至 {at}",
    recentTasks: "最近任务",
    noTasks: "暂无任务。",
    refresh: "刷新",
    openSettings: "设置",
    configFile: "配置文件:{path}",
    copy: "复制",
    loadFailed: "加载失败:{error}",
    httpFailed: "{route} 返回 HTTP {status},原因见 ComfyUI 控制台。",
  },
};

// Setting labels (the same as locales/*/settings.json, which ComfyUI prefers when present; the schema's help
// text is the tooltip).
const NAMES = {
  en: {
    hdredraw_base_url: "HD Redraw base URL",
    hdredraw_user_key: "HD Redraw user key",
    hidream_token: "HiDream API token",
    hidream_base_url: "HiDream base URL",
    job_timeout: "Task deadline (s)",
    connect_timeout: "Connect timeout (s)",
    read_timeout: "Read timeout (s)",
    concurrency: "Batch concurrency",
    max_result_mb: "Largest result (MB)",
    max_new_tasks: "Spend guard: new tasks per run",
    cache_mb: "Kept results (MB)",
    journal_url: "Shared journal (PostgreSQL URL)",
    lease_seconds: "Lease lapse for stopped workers (s)",
  },
  zh: {
    hdredraw_base_url: "HD Redraw 接口地址",
    hdredraw_user_key: "HD Redraw 用户密钥",
    hidream_token: "HiDream API token",
    hidream_base_url: "HiDream 接口地址",
    job_timeout: "任务总时限(秒)",
    connect_timeout: "连接超时(秒)",
    read_timeout: "读取超时(秒)",
    concurrency: "批量并发数",
    max_result_mb: "结果文件上限(MB)",
    max_new_tasks: "消费保护:单次最多新任务数",
    cache_mb: "结果缓存上限(MB)",
    journal_url: "共享任务记录(PostgreSQL 地址)",
    lease_seconds: "停止的工作机占用失效时间(秒)",
  },
};

const SOURCE_NAMES = {
  en: { env: "environment variable", file: "config file", default: "default" },
  zh: { env: "环境变量", file: "配置文件", default: "默认" },
};

function lang() {
  let locale;
  try {
    locale = app.extensionManager?.setting?.get("Comfy.Locale");
  } catch {
    locale = undefined;
  }
  locale = String(locale || navigator.language || "en").toLowerCase();
  return locale.startsWith("zh") ? "zh" : "en";
}

function t(key, vars = {}) {
  const text = STRINGS[lang()][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] ?? "").toString());
}

function settingName(entry) {
  const l = lang();
  return NAMES[l][entry.name] ?? NAMES.en[entry.name] ?? entry.name;
}

function settingTooltip(entry) {
  const l = lang();
  const help = (entry.help && (entry.help[l] || entry.help.en)) || "";
  const parts = [help, t("envVar", { env: entry.env })];
  if (!entry.secret && entry.default !== "" && entry.default !== null && entry.default !== undefined) {
    parts.push(t("defaultIs", { value: entry.default }));
  }
  return parts.filter(Boolean).join(" ");
}

function sourceName(source) {
  return SOURCE_NAMES[lang()][source] ?? source ?? "";
}

function formatTime(seconds) {
  if (!seconds) return "";
  const d = new Date(seconds * 1000);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

function formatMoney(value) {
  if (value === null || value === undefined || value === "") return "?";
  const n = Number(value);
  if (!Number.isFinite(n)) return String(value);
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

// ------------------------------------------------------------------ server

class RequestError extends Error {
  constructor(message, body) {
    super(message);
    this.body = body || {};
  }
  localized() {
    return (lang() === "zh" && this.body.error_zh) || this.body.error || this.message;
  }
}

async function readJSON(response) {
  const text = await response.text();
  try {
    return JSON.parse(text);
  } catch {
    return {};
  }
}

function failure(route, response, body) {
  const message = body.error || t("httpFailed", { route, status: `${response.status} ${response.statusText}`.trim() });
  return new RequestError(message, body);
}

// Every request to the pack's routes carries this header: the routes refuse requests without it, which a page
// on another site cannot send without a CORS preflight that ComfyUI never grants (nodes/routes.py).
const CLIENT_HEADER = "X-HDRedraw-Client";
const CLIENT_VALUE = "1";

async function getJSON(route) {
  const response = await api.fetchApi(route, { cache: "no-store", headers: { [CLIENT_HEADER]: CLIENT_VALUE } });
  const body = await readJSON(response);
  if (!response.ok) throw failure(route, response, body);
  return body;
}

let status = null; // last GET /hdredraw/status answer
let statusError = null;
let statusFetchedAt = 0;
let statusPromise = null;

async function refreshStatus() {
  if (!statusPromise) {
    statusPromise = getJSON("/hdredraw/status")
      .then((body) => {
        applyStatus(body);
        statusError = null;
        return body;
      })
      .catch((error) => {
        statusError = error;
        return status;
      })
      .finally(() => {
        statusFetchedAt = Date.now();
        statusPromise = null;
      });
  }
  return statusPromise;
}

function refreshStatusSoon() {
  if (Date.now() - statusFetchedAt > 1500) void refreshStatus();
}

async function saveSettings(update) {
  const response = await api.fetchApi("/hdredraw/settings", {
    method: "POST",
    headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_VALUE },
    body: JSON.stringify(update),
  });
  const body = await readJSON(response);
  if (!response.ok) throw failure("/hdredraw/settings", response, body);
  applyStatus(body);
  return body;
}

function applyStatus(body) {
  if (!body || typeof body !== "object" || !body.settings) return;
  status = body;
  if (hasBalance(body.balance)) setBalance(body.balance);
  for (const view of [...settingViews]) {
    if (!view.element.isConnected && view.mounted) settingViews.delete(view);
    else view.update();
  }
}

function toast(severity, summary, detail, life = 3000) {
  try {
    app.extensionManager.toast.add({ severity, summary, detail, life });
  } catch {
    // no toast service (very old front end): nothing else to do
  }
}

// ------------------------------------------------------------------ DOM helpers

function el(tag, props = {}, children = []) {
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

function smallButton(label, onclick, extra = "") {
  return el("button", {
    type: "button",
    class: `p-button p-component p-button-sm p-button-secondary hdredraw-btn ${extra}`,
    text: label,
    onclick,
  });
}

function injectStyle() {
  if (document.getElementById("hdredraw-style")) return;
  const css = `
.hdredraw-setting { display: flex; flex-direction: column; align-items: flex-end; gap: 4px; max-width: 26rem; }
.hdredraw-setting .hdredraw-row { display: flex; align-items: center; gap: 6px; }
.form-input .hdredraw-setting input.hdredraw-input, .hdredraw-setting input.hdredraw-input { width: 11rem; }
.form-input .hdredraw-setting input.hdredraw-input.hdredraw-wide, .hdredraw-setting input.hdredraw-input.hdredraw-wide { width: 17rem; }
.hdredraw-setting input.hdredraw-input:disabled { opacity: .75; cursor: not-allowed; }
.hdredraw-note { font-size: .8em; color: var(--descrip-text, #999); text-align: right; max-width: 26rem; line-height: 1.3; }
.hdredraw-note.hdredraw-env { color: var(--p-orange-400, #e0a040); }
.hdredraw-note.hdredraw-set { color: var(--p-green-400, #6c6); }
.hdredraw-btn { padding: 4px 10px !important; font-size: .85em !important; white-space: nowrap; }
.hdredraw-badge .pi { font-size: .9em; }
.hdredraw-badge.hdredraw-unknown { opacity: .7; }
.hdredraw-panel { padding: 12px; display: flex; flex-direction: column; gap: 12px; font-size: .9em; color: var(--fg-color); }
.hdredraw-panel h3 { margin: 0; font-size: 1.05em; font-weight: 600; display: flex; align-items: center; gap: 8px; }
.hdredraw-panel h3 .hdredraw-grow { flex: 1; }
.hdredraw-panel .hdredraw-balance { font-size: 1.15em; }
.hdredraw-panel .hdredraw-muted { color: var(--descrip-text, #999); font-size: .85em; word-break: break-all; }
.hdredraw-tasks { display: flex; flex-direction: column; gap: 6px; list-style: none; padding: 0; margin: 0; }
.hdredraw-tasks li { border: 1px solid var(--border-color); border-radius: 6px; padding: 6px 8px; display: flex; gap: 8px; align-items: center; }
.hdredraw-tasks .hdredraw-task-main { flex: 1; min-width: 0; }
.hdredraw-tasks code { font-family: monospace; font-size: .95em; display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hdredraw-icon-btn { background: none; border: none; color: var(--fg-color); cursor: pointer; padding: 4px; border-radius: 4px; }
.hdredraw-icon-btn:hover { background: var(--comfy-input-bg); }
`;
  document.head.append(el("style", { id: "hdredraw-style", text: css }));
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

async function copyWithToast(text) {
  if (await copyText(text)) toast("success", t("copied"), text, 2500);
  else toast("error", t("copyFailed"), text, 6000);
}

// ------------------------------------------------------------------ settings dialog

const settingViews = new Set();

function currentEntry(name) {
  return status?.settings?.[name];
}

async function commit(entry, value, view) {
  try {
    await saveSettings({ [entry.name]: value });
    const removed = value === "";
    toast("success", removed ? t("removed") : t("saved"),
          t(removed ? "removedDetail" : "savedDetail", { name: settingName(entry) }), 2500);
  } catch (error) {
    const message = error instanceof RequestError ? error.localized() : String(error);
    toast("error", t("saveFailed"), message, 8000);
    view.update();
  }
}

function renderSecret(entry, label) {
  const input = el("input", {
    type: "password",
    class: "p-inputtext p-component hdredraw-input",
    autocomplete: "new-password",
    spellcheck: "false",
    "data-hdredraw-secret": entry.name,
    "aria-label": label,
  });
  const saveButton = smallButton(t("save"), null, "hdredraw-save");
  saveButton.type = "submit";
  const clearButton = smallButton(t("clear"), () => clear(), "hdredraw-clear");
  const note = el("div", { class: "hdredraw-note" });
  const form = el("form", { class: "hdredraw-row", autocomplete: "off" }, [input, saveButton, clearButton]);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void save();
  });
  const element = el("div", { class: "hdredraw-setting", "data-hdredraw-setting": entry.name }, [form, note]);

  async function save() {
    // The typed value lives only in the input until the POST; it is never kept, logged or put in a setting.
    const value = input.value.trim();
    if (!value) {
      toast("warn", settingName(entry), t("nothingTyped"));
      return;
    }
    input.value = "";
    await commit(entry, value, view);
  }

  async function clear() {
    let ok = true;
    try {
      ok = await app.extensionManager.dialog.confirm({
        title: t("confirmClearTitle"),
        message: t("confirmClearMessage", { name: settingName(entry) }),
        type: "delete",
      });
    } catch {
      ok = window.confirm(t("confirmClearMessage", { name: settingName(entry) }));
    }
    if (ok) await commit(entry, "", view);
  }

  const view = {
    element,
    mounted: false,
    update() {
      const current = currentEntry(entry.name) || {};
      const env = current.source === "env";
      input.disabled = env;
      saveButton.disabled = env;
      input.placeholder = env ? "" : t("keyPlaceholder");
      clearButton.style.display = current.source === "file" ? "" : "none";
      const stale = current.set && current.stale;
      note.className = "hdredraw-note" + (env || stale ? " hdredraw-env" : current.set ? " hdredraw-set" : "");
      note.title = stale ? (lang() === "zh" && current.error_zh) || current.error || "" : "";
      if (env) {
        note.textContent = t("keyEnv", { hint: current.hint || "…", env: entry.env });
      } else if (stale) {
        note.textContent = t("keyStale", { origin: current.origin || "?" });
      } else if (current.set && current.origin) {
        note.textContent = t("keyBound", { hint: current.hint || "…", source: sourceName(current.source),
                                          origin: current.origin });
      } else if (current.set) {
        note.textContent = t("keySet", { hint: current.hint || "…", source: sourceName(current.source) });
      } else {
        note.textContent = t("keyUnset");
      }
    },
  };
  return view;
}

function renderPlain(entry, label) {
  const numeric = entry.type === "int" || entry.type === "float";
  const input = el("input", {
    type: numeric ? "number" : "text",
    class: "p-inputtext p-component hdredraw-input",
    autocomplete: "off",
    spellcheck: "false",
    "data-hdredraw-input": entry.name,
    "aria-label": label,
  });
  if (numeric) {
    input.step = entry.type === "int" ? "1" : "any";
    input.min = entry.min ?? (entry.type === "int" ? "1" : "0");
    if (entry.max !== null && entry.max !== undefined) input.max = entry.max;
  } else if (/url$/.test(entry.name)) {
    input.placeholder = "https://…";
    input.classList.add("hdredraw-wide");
  }
  const resetButton = smallButton(t("reset"), () => commit(entry, "", view), "hdredraw-reset");
  const note = el("div", { class: "hdredraw-note" });
  const element = el("div", { class: "hdredraw-setting", "data-hdredraw-setting": entry.name }, [
    el("div", { class: "hdredraw-row" }, [input, resetButton]),
    note,
  ]);

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") input.blur();
  });
  input.addEventListener("change", () => {
    const current = currentEntry(entry.name) || {};
    if (current.source === "env") return view.update(); // never overwrite an env-provided value
    const raw = input.value.trim();
    if (raw === String(current.value ?? "")) return;
    if (raw === "") return commit(entry, "", view);
    let value = raw;
    if (numeric) {
      value = Number(raw);
      if (!Number.isFinite(value)) return view.update();
    }
    return commit(entry, value, view);
  });

  const view = {
    element,
    mounted: false,
    update() {
      const current = currentEntry(entry.name) || {};
      const env = current.source === "env";
      if (document.activeElement !== input) input.value = current.value ?? "";
      input.disabled = env;
      resetButton.style.display = current.source === "file" ? "" : "none";
      note.className = "hdredraw-note" + (env ? " hdredraw-env" : "");
      note.textContent = env ? t("srcEnv", { env: entry.env })
        : current.source === "file" ? t("srcFile") : t("srcDefault");
    },
  };
  return view;
}

function renderSetting(entry, label) {
  injectStyle();
  const view = entry.secret ? renderSecret(entry, label) : renderPlain(entry, label);
  view.update();
  settingViews.add(view);
  // The settings dialog mounts the element right after this returns.
  requestAnimationFrame(() => {
    view.mounted = true;
  });
  refreshStatusSoon();
  return view.element;
}

function buildSettings(schema) {
  return schema.map((entry, index) => ({
    id: SETTING_PREFIX + entry.name,
    get name() {
      return settingName(entry);
    },
    get tooltip() {
      return settingTooltip(entry);
    },
    // ComfyUI sorts a category's groups by label: both languages' labels keep "connection and keys" first.
    get category() {
      const account = entry.secret || /url$/.test(entry.name);
      return [CATEGORY, account ? t("groupAccount") : t("groupLimits"), entry.name];
    },
    // A render function: ComfyUI shows the returned element and never stores anything, because this
    // element never calls the setter it is given.
    type: (label) => renderSetting(entry, label),
    defaultValue: "",
    sortOrder: schema.length - index,
  }));
}

function unavailableSetting() {
  return {
    id: SETTING_PREFIX + "unavailable",
    get name() {
      return t("unavailableName");
    },
    get category() {
      return [CATEGORY, t("groupAccount"), "unavailable"];
    },
    type: () => {
      injectStyle();
      const message = statusError instanceof RequestError ? statusError.localized() : String(statusError);
      return el("div", { class: "hdredraw-note hdredraw-env", text: message });
    },
    defaultValue: "",
  };
}

// ------------------------------------------------------------------ balance

let balance = null;
let badgeButton = null;
const balanceListeners = new Set();

function hasBalance(b) {
  return b && (b.remaining_count !== undefined && b.remaining_count !== null ||
               b.remaining_money !== undefined && b.remaining_money !== null);
}

function setBalance(b) {
  if (!hasBalance(b)) return;
  if (balance && balance.at && b.at && b.at < balance.at) return; // an older figure
  balance = { ...b };
  updateBadge();
  for (const listener of balanceListeners) listener();
}

function balanceText() {
  if (!balance) return t("balanceUnknown");
  return `${t("tasksLeft", { count: balance.remaining_count ?? "?" })} · ¥${formatMoney(balance.remaining_money)}`;
}

function updateBadge() {
  if (!badgeButton) return;
  const label = badgeButton.querySelector(".hdredraw-badge-text");
  label.textContent = balanceText();
  badgeButton.classList.toggle("hdredraw-unknown", !balance);
  badgeButton.title = balance
    ? t("balanceTip", { count: balance.remaining_count ?? "?", money: formatMoney(balance.remaining_money),
                        at: formatTime(balance.at) })
    : t("balanceTipUnknown");
  badgeButton.setAttribute("aria-label", badgeButton.title);
}

function runCommand(id) {
  try {
    Promise.resolve(app.extensionManager.command.execute(id)).catch(() => {});
  } catch {
    // no such command in this front end
  }
}

function toggleSidebar() {
  runCommand(`Workspace.ToggleSidebarTab.${SIDEBAR_ID}`);
}

function addBadge() {
  const host = app.menu?.element;
  if (!host || badgeButton) return;
  badgeButton = el("button", { type: "button", class: "comfyui-button hdredraw-badge", onclick: toggleSidebar }, [
    el("i", { class: "pi pi-wallet" }),
    el("span", { class: "hdredraw-badge-text" }),
  ]);
  const group = el("div", { class: "comfyui-button-group hdredraw-badge-group" }, [badgeButton]);
  host.prepend(group);
  updateBadge();
}

async function balanceFromJournal() {
  // After a restart the server has not seen a balance yet; the task journal remembers the last one.
  if (balance) return;
  try {
    const body = await getJSON("/hdredraw/tasks?limit=20");
    const entry = (body.tasks || []).find((task) => task.remaining_count != null || task.remaining_money != null);
    if (entry) {
      setBalance({ remaining_count: entry.remaining_count, remaining_money: entry.remaining_money,
                   at: entry.finished_at || entry.created_at });
    }
  } catch {
    // the badge keeps its placeholder
  }
}

// ------------------------------------------------------------------ sidebar tab

let panel = null; // { root, refresh }

function renderPanel(container) {
  injectStyle();
  if (panel && container.contains(panel.root)) {
    void panel.refresh();
    return;
  }
  const balanceLine = el("div", { class: "hdredraw-balance" });
  const balanceAt = el("div", { class: "hdredraw-muted" });
  const configLine = el("div", { class: "hdredraw-muted" });
  const list = el("ul", { class: "hdredraw-tasks" });
  const refreshButton = el("button", {
    type: "button", class: "hdredraw-icon-btn", title: t("refresh"), "aria-label": t("refresh"),
    onclick: () => void refresh(),
  }, [el("i", { class: "pi pi-refresh" })]);
  const settingsButton = smallButton(t("openSettings"), () => runCommand("Comfy.ShowSettingsDialog"));
  const root = el("div", { class: "hdredraw-panel" }, [
    el("h3", {}, [el("span", { class: "hdredraw-grow", text: "HD Redraw" }), refreshButton]),
    el("div", {}, [el("div", { class: "hdredraw-muted", text: t("balance") }), balanceLine, balanceAt]),
    el("div", {}, [settingsButton]),
    configLine,
    el("h3", { text: t("recentTasks") }),
    list,
  ]);

  function drawBalance() {
    balanceLine.textContent = balance ? balanceText() : "–";
    balanceAt.textContent = balance?.at ? t("asOf", { at: formatTime(balance.at) }) : "";
    configLine.textContent = status?.config_path ? t("configFile", { path: status.config_path }) : "";
  }

  async function refresh() {
    drawBalance();
    let tasks;
    try {
      tasks = (await getJSON("/hdredraw/tasks?limit=30")).tasks || [];
    } catch (error) {
      list.replaceChildren(el("li", { class: "hdredraw-muted",
                                      text: t("loadFailed", { error: error.localized?.() || String(error) }) }));
      return;
    }
    if (!tasks.length) {
      list.replaceChildren(el("li", { class: "hdredraw-muted", text: t("noTasks") }));
      return;
    }
    list.replaceChildren(...tasks.map((task) => {
      const id = task.task_id || "";
      const meta = [task.op, task.status, formatTime(task.finished_at || task.created_at)].filter(Boolean).join(" · ");
      return el("li", { "data-task-id": id }, [
        el("div", { class: "hdredraw-task-main" }, [
          el("code", { text: id || "–", title: id }),
          el("div", { class: "hdredraw-muted", text: meta }),
        ]),
        id ? el("button", {
          type: "button", class: "hdredraw-icon-btn hdredraw-copy", title: t("copy"), "aria-label": t("copy"),
          onclick: () => void copyWithToast(id),
        }, [el("i", { class: "pi pi-copy" })]) : null,
      ]);
    }));
  }

  container.replaceChildren(root);
  balanceListeners.add(drawBalance);
  panel = { root, refresh, drawBalance };
  void refresh();
}

function destroyPanel() {
  if (panel) balanceListeners.delete(panel.drawBalance);
  panel = null;
}

// ------------------------------------------------------------------ task ids per node

// The ids live on the node object (never serialized), so another workflow's node with the same id never
// offers them; a node rebuilt from JSON (tab switch, reload) starts without ids.
const TASK_IDS = Symbol("hdredrawTaskIds");

function taskIdsFor(node) {
  return node?.[TASK_IDS] ?? [];
}

function findNode(executionId) {
  // "12", or "5:12" for node 12 inside the subgraph of node 5.
  try {
    let graph = app.graph;
    let node = null;
    for (const part of String(executionId).split(":")) {
      if (!graph) return null;
      node = graph.getNodeById(part) ?? graph.getNodeById(Number(part)) ?? null;
      if (!node) return null;
      graph = node.subgraph;
    }
    return node;
  } catch {
    return null;
  }
}

function copyLabel(node) {
  const ids = taskIdsFor(node);
  // The full id goes to the clipboard; the button shows its start so it fits the node.
  if (ids.length === 1) return t("copyTaskIdShort", { id: ids[0].length > 12 ? `${ids[0].slice(0, 10)}…` : ids[0] });
  return ids.length > 1 ? `${t("copyTaskId")} (${ids.length})` : t("copyTaskId");
}

function rememberTaskIds(executionId, ids) {
  ids = [...new Set(ids.filter((id) => typeof id === "string" && id))];
  const node = ids.length ? findNode(executionId) : null;
  if (!node) return;
  node[TASK_IDS] = ids;
  node.setDirtyCanvas?.(true, false);
}

function onStatusEvent(event) {
  const detail = event.detail || {};
  if (detail.balance) setBalance(detail.balance);
  if (detail.node === null || detail.node === undefined) return;
  rememberTaskIds(detail.node, (detail.tasks || []).map((task) => task.task_id));
  keepProgressTextOutOfWorkflow(findNode(detail.node));
}

function keepProgressTextOutOfWorkflow(node) {
  // ComfyUI's progress-text widget (frontend 1.27) sets only options.serialize=false, but LGraphNode.serialize()
  // checks widget.serialize: the status text (task id, balance) would land in the workflow's widgets_values.
  if (!node || !String(node.comfyClass || "").startsWith(NODE_PREFIX)) return;
  for (const widget of node.widgets ?? []) {
    if (widget.name === PROGRESS_TEXT_WIDGET) widget.serialize = false;
  }
}

function onExecuted(event) {
  // Nodes that also report their task ids as UI output ({"ui": {"task_ids": [...]}}) keep them across cached runs.
  const detail = event.detail || {};
  const ids = detail.output?.task_ids;
  if (Array.isArray(ids) && (detail.display_node || detail.node)) rememberTaskIds(detail.display_node || detail.node, ids);
}

function addCopyButton(node) {
  const type = node.comfyClass || node.type || "";
  if (!type.startsWith(NODE_PREFIX) || LOCAL_NODES.has(type)) return;
  if (node.widgets?.some((w) => w.name === COPY_WIDGET)) return;
  const widget = node.addWidget("button", COPY_WIDGET, null, () => {
    const ids = taskIdsFor(node);
    if (!ids.length) {
      toast("info", t("copyTaskId"), t("noTaskId"), 3500);
      return;
    }
    void copyWithToast(ids.join("\n"));
  }, { serialize: false });
  // Keep widgets_values exactly the Python inputs: neither the workflow nor the prompt gets this button.
  widget.serialize = false;
  widget.options = { ...(widget.options || {}), serialize: false };
  // The label follows the node's last task id(s) and the current language.
  Object.defineProperty(widget, "label", { configurable: true, get: () => copyLabel(node), set: () => {} });
}

// ------------------------------------------------------------------ registration

function relabel() {
  updateBadge();
  app.graph?.setDirtyCanvas?.(true, false);
  if (panel?.root?.parentElement) {
    const container = panel.root.parentElement;
    destroyPanel();
    renderPanel(container);
  }
}

let finishTimer = null;
function onPromptFinished() {
  clearTimeout(finishTimer);
  finishTimer = setTimeout(async () => {
    await refreshStatus();
    await balanceFromJournal();
    if (panel) void panel.refresh();
  }, 300);
}

await refreshStatus();
const schema = Array.isArray(status?.schema) ? status.schema : [];

app.registerExtension({
  name: EXTENSION,
  settings: schema.length ? buildSettings(schema) : [unavailableSetting()],

  async setup() {
    injectStyle();
    api.addEventListener("hdredraw.status", onStatusEvent);
    api.addEventListener("executed", onExecuted);
    api.addEventListener("progress_text", (event) => keepProgressTextOutOfWorkflow(findNode(event.detail?.nodeId)));
    api.addEventListener("executing", (event) => {
      if (event.detail === null || event.detail === undefined) onPromptFinished();
    });
    for (const name of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(name, onPromptFinished);
    }
    addBadge();
    try {
      // Settings fire "<id>.change" before storing the new value, hence the timeout.
      app.ui?.settings?.addEventListener?.("Comfy.Locale.change", () => setTimeout(relabel, 0));
    } catch {
      // no legacy settings events: labels follow the language at the next reload
    }
    try {
      app.extensionManager.registerSidebarTab({
        id: SIDEBAR_ID,
        icon: "pi pi-wallet",
        title: "HD Redraw",
        tooltip: t("sidebarTooltip"),
        type: "custom",
        render: renderPanel,
        destroy: destroyPanel,
      });
    } catch (error) {
      console.warn("[HD Redraw] sidebar tab unavailable", error);
    }
    if (!schema.length) {
      const message = statusError instanceof RequestError ? statusError.localized() : String(statusError);
      toast("error", t("statusFailed"), message, 10000);
    }
    await balanceFromJournal();
  },

  nodeCreated(node) {
    addCopyButton(node);
  },
});
