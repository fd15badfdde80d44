// ComfyUI-HDRedraw front end: registers the pack's settings, balance badge, sidebar tab, node status line,
// "Copy task id" button, translated combo labels and search words.  Each lives in its own module under
// ./hdredraw/; this file only wires them to ComfyUI.  Registration never waits on the network: the settings
// and search words are known from generated.js, strings and status arrive later and redraw what they touch.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import { addBadge, balanceFromJournal } from "./hdredraw/balance.js";
import { labelCombos } from "./hdredraw/combos.js";
import { addSearchAliases } from "./hdredraw/search.js";
import { getJSON } from "./hdredraw/server.js";
import { reportStatusError, settingDefinitions } from "./hdredraw/settings.js";
import { refreshPanel, registerSidebar } from "./hdredraw/sidebar.js";
import { refreshStatus, setBalance } from "./hdredraw/state.js";
import { installStatus, onExecuted, onStatusEvent, restoreStatus, settleCharges } from "./hdredraw/status.js";
import { onLanguage, stringsReady, watchLanguage } from "./hdredraw/strings.js";
import { injectStyle } from "./hdredraw/style.js";
import { addCopyButton } from "./hdredraw/taskid.js";

const statusReady = refreshStatus(); // started now, awaited by nobody at load time

let finishTimer = null;
function onPromptFinished() {
  clearTimeout(finishTimer);
  finishTimer = setTimeout(async () => {
    await refreshStatus();
    await balanceFromJournal();
    try {
      settleCharges((await getJSON("/hdredraw/tasks?limit=100")).tasks);
    } catch {
      settleCharges([]);
    }
    refreshPanel();
  }, 300);
}

app.registerExtension({
  name: "HDRedraw.Web",
  settings: settingDefinitions(),

  addCustomNodeDefs(defs) {
    addSearchAliases(defs);
  },

  async setup() {
    injectStyle();
    api.addEventListener("hdredraw.status", (event) => {
      const detail = event.detail || {};
      if (detail.balance) setBalance(detail.balance);
      if (detail.node !== null && detail.node !== undefined) onStatusEvent(detail);
    });
    api.addEventListener("executed", (event) => onExecuted(event.detail));
    api.addEventListener("executing", (event) => {
      if (event.detail === null || event.detail === undefined) onPromptFinished();
    });
    for (const name of ["execution_success", "execution_error", "execution_interrupted"]) {
      api.addEventListener(name, onPromptFinished);
    }
    addBadge();
    registerSidebar();
    watchLanguage();
    onLanguage(() => app.graph?.setDirtyCanvas?.(true, true));
    void Promise.all([statusReady, stringsReady]).then(reportStatusError);
    void balanceFromJournal();
  },

  nodeCreated(node) {
    addCopyButton(node);
    labelCombos(node);
    installStatus(node); // last: the status widget is the node's last widget
  },

  loadedGraphNode(node) {
    restoreStatus(node);
  },
});
