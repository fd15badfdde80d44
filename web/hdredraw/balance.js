// The balance badge in ComfyUI's top bar: remaining tasks and money as the service last reported them.
import { app } from "../../../scripts/app.js";
import { el, formatNumber, formatTime, runCommand } from "./dom.js";
import { getJSON } from "./server.js";
import { currentBalance, onBalance, setBalance } from "./state.js";
import { onLanguage, onStrings, t } from "./strings.js";

export const SIDEBAR_ID = "hdredraw";
let badge = null;

/** "97 tasks · ¥300", or the placeholder before any balance is known. */
export function balanceText() {
  const b = currentBalance();
  if (!b) return t("balanceUnknown");
  return `${t("tasksLeft", { count: b.remaining_count ?? "?" })} · ¥${formatNumber(b.remaining_money)}`;
}

function update() {
  if (!badge) return;
  const b = currentBalance();
  badge.querySelector(".hdredraw-badge-text").textContent = balanceText();
  badge.classList.toggle("hdredraw-unknown", !b);
  badge.title = b
    ? t("balanceTip", { count: b.remaining_count ?? "?", money: formatNumber(b.remaining_money), at: formatTime(b.at) })
    : t("balanceTipUnknown");
  badge.setAttribute("aria-label", badge.title);
}

export function addBadge() {
  const host = app.menu?.element;
  if (!host || badge) return;
  badge = el("button", {
    type: "button", class: "comfyui-button hdredraw-ui hdredraw-badge",
    onclick: () => runCommand(`Workspace.ToggleSidebarTab.${SIDEBAR_ID}`),
  }, [el("i", { class: "pi pi-wallet" }), el("span", { class: "hdredraw-badge-text" })]);
  host.prepend(el("div", { class: "comfyui-button-group hdredraw-badge-group" }, [badge]));
  update();
}

/** After a restart the server has seen no balance yet: the journal remembers the last one. */
export async function balanceFromJournal() {
  if (currentBalance()) return;
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

onBalance(update);
onStrings(update);
onLanguage(update);
