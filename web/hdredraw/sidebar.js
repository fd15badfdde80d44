// The sidebar tab: balance, today's spend, recent tasks (each with a copy button), a link to the settings.
import { app } from "../../../scripts/app.js";
import { SIDEBAR_ID, balanceText } from "./balance.js";
import { amountText } from "./cost.js";
import { copyWithToast, describeError, el, formatTime, runCommand } from "./dom.js";
import { getJSON } from "./server.js";
import { currentBalance, currentStatus, onBalance, onStatus, spendToday } from "./state.js";
import { onLanguage, onStrings, opTitle, t } from "./strings.js";
import { injectStyle } from "./style.js";

let panel = null; // { root, container, refresh, draw }

function todayText() {
  const spend = spendToday();
  if (!spend || !spend.tasks) return t("todayNone");
  if (!spend.known) return t("todayUnknown", { tasks: spend.tasks });
  const amount = amountText(spend);
  return spend.exact ? t("todayExact", { amount, tasks: spend.tasks })
    : t("todayEstimate", { amount, tasks: spend.tasks });
}

/** One line per task: operation · state · time (all in the current language). */
export function taskLine(task) {
  const state = t(`state_${task.status}`) || task.status;
  return [opTitle(task.op), state, formatTime(task.finished_at || task.created_at)].filter(Boolean).join(" · ");
}

function render(container) {
  injectStyle();
  const balanceLine = el("div", { class: "hdredraw-balance" });
  const balanceAt = el("div", { class: "hdredraw-muted" });
  const today = el("div", { class: "hdredraw-today" });
  const configLine = el("div", { class: "hdredraw-muted" });
  const list = el("ul", { class: "hdredraw-tasks" });
  const labels = { balance: el("div", { class: "hdredraw-muted" }), today: el("div", { class: "hdredraw-muted" }),
                   recent: el("span") };
  const refreshButton = el("button", { type: "button", class: "hdredraw-icon-btn", onclick: () => void refresh() },
                           [el("i", { class: "pi pi-refresh" })]);
  const settingsButton = el("button", { type: "button", class: "hdredraw-btn",
                                        onclick: () => runCommand("Comfy.ShowSettingsDialog") });
  const root = el("div", { class: "hdredraw-ui hdredraw-panel" }, [
    el("h3", {}, [el("span", { class: "hdredraw-grow", text: "HD Redraw" }), refreshButton]),
    el("div", {}, [labels.balance, balanceLine, balanceAt]),
    el("div", {}, [labels.today, today]),
    el("div", {}, [settingsButton]),
    configLine,
    el("h3", {}, [labels.recent]),
    list,
  ]);
  let tasks = null;
  let failed = null;

  function draw() {
    labels.balance.textContent = t("balance");
    labels.today.textContent = t("today");
    labels.recent.textContent = t("recentTasks");
    refreshButton.title = t("refresh");
    refreshButton.setAttribute("aria-label", t("refresh"));
    settingsButton.textContent = t("openSettings");
    const b = currentBalance();
    balanceLine.textContent = b ? balanceText() : "–";
    balanceAt.textContent = b?.at ? t("asOf", { at: formatTime(b.at) }) : "";
    today.textContent = todayText();
    configLine.textContent = currentStatus()?.config_path ? t("configFile", { path: currentStatus().config_path }) : "";
    if (failed) {
      list.replaceChildren(el("li", { class: "hdredraw-muted", text: t("loadFailed", { error: describeError(failed) }) }));
    } else if (tasks && !tasks.length) {
      list.replaceChildren(el("li", { class: "hdredraw-muted", text: t("noTasks") }));
    } else if (tasks) {
      list.replaceChildren(...tasks.map(row));
    }
  }

  function row(task) {
    const id = task.task_id || "";
    const charged = task.charged && (task.charged.count || task.charged.money)
      ? `${task.charged.exact ? "" : "≈ "}${amountText(task.charged)}` : "";
    return el("li", { "data-task-id": id }, [
      el("div", { class: "hdredraw-task-main" }, [
        el("code", { text: id || "–", title: id }),
        el("div", { class: "hdredraw-muted hdredraw-task-line", text: [taskLine(task), charged].filter(Boolean).join(" · ") }),
      ]),
      id ? el("button", {
        type: "button", class: "hdredraw-icon-btn hdredraw-copy", title: t("copy"), "aria-label": t("copy"),
        onclick: () => void copyWithToast(id),
      }, [el("i", { class: "pi pi-copy" })]) : null,
    ]);
  }

  async function refresh() {
    try {
      tasks = (await getJSON("/hdredraw/tasks?limit=30")).tasks || [];
      failed = null;
    } catch (error) {
      failed = error;
    }
    draw();
  }

  container.replaceChildren(root);
  panel = { root, container, refresh, draw };
  draw();
  void refresh();
}

function redraw() {
  if (panel?.root?.isConnected) panel.draw();
}

onBalance(redraw);
onStatus(redraw);
onStrings(redraw);
onLanguage(redraw);

/** Re-read the task list when a prompt has finished (if the tab is open). */
export function refreshPanel() {
  if (panel?.root?.isConnected) void panel.refresh();
}

export function registerSidebar() {
  try {
    app.extensionManager.registerSidebarTab({
      id: SIDEBAR_ID,
      icon: "pi pi-wallet",
      title: "HD Redraw",
      get tooltip() {
        return t("sidebarTooltip");
      },
      type: "custom",
      render: (container) => {
        if (panel && container.contains(panel.root)) void panel.refresh();
        else render(container);
      },
      destroy: () => {
        panel = null;
      },
    });
  } catch (error) {
    console.warn("[HD Redraw] sidebar tab unavailable", error);
  }
}
