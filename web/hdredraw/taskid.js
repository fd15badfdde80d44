// Task ids per node and the "Copy task id" button (full ids to the clipboard, the start of one on the button).
//
// The ids live on the node object (never serialized): another workflow's node with the same id never offers
// them.  A node rebuilt from JSON (tab switch, reload) gets them back from its stored status (status.js).
import { app } from "../../../scripts/app.js";
import { copyWithToast, shortId, toast } from "./dom.js";
import { DATA } from "./generated.js";
import { t } from "./strings.js";

export const COPY_WIDGET = "hdredraw_copy_task_id";
const TASK_IDS = Symbol("hdredrawTaskIds");

export function isPackNode(node) {
  return Boolean(DATA.nodes[node?.comfyClass || node?.type || ""]);
}

export function taskIdsFor(node) {
  return node?.[TASK_IDS] ?? [];
}

export function setTaskIds(node, ids) {
  ids = [...new Set((ids || []).filter((id) => typeof id === "string" && id))];
  if (!node || !ids.length) return;
  node[TASK_IDS] = ids;
  node.setDirtyCanvas?.(true, false);
}

/** The node for an execution id: "12", or "5:12" for node 12 inside the subgraph of node 5. */
export function findNode(executionId) {
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
  if (ids.length === 1) return t("copyTaskIdShort", { id: shortId(ids[0]) });
  return ids.length > 1 ? t("copyTaskIds", { count: ids.length }) : t("copyTaskId");
}

export function addCopyButton(node) {
  const type = node.comfyClass || node.type || "";
  if (!isPackNode(node) || DATA.nodes[type].local || node.widgets?.some((w) => w.name === COPY_WIDGET)) return;
  const widget = node.addWidget("button", COPY_WIDGET, null, () => {
    const ids = taskIdsFor(node);
    if (!ids.length) toast("info", t("copyTaskId"), t("noTaskId"), 3500);
    else void copyWithToast(ids.join("\n"));
  }, { serialize: false });
  // Keep widgets_values exactly the Python inputs: neither the workflow nor the prompt gets this button.
  widget.serialize = false;
  widget.options = { ...(widget.options || {}), serialize: false };
  // The label follows the node's last task id(s) and the current language.
  Object.defineProperty(widget, "label", { configurable: true, get: () => copyLabel(node), set: () => {} });
}
