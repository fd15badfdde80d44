// The node's status line: what the run is doing, how it ended, what it cost; kept after the run and a reload.
//
// Why it works this way: ComfyUI shows a node's progress text in a widget named "$$node-text-preview", and
// frontend 1.58 removes that widget when a run ends, erasing "Done · 23 s · task … · left: 96 tasks".  Every
// pack node therefore carries its own DOM widget under that very name, created before any run: ComfyUI's
// progress-text handler finds it and sets its value (so the live text appears where ComfyUI puts it, in every
// version, classic and Nodes 2.0), and when 1.58 removes it at the end of the run the pack puts it straight
// back with the last text.  The pack also shows, under the text, the estimated price before a run and the
// charge after it (cost.js), shortens task ids to their start (a click copies the whole id), and keeps each
// node's last status in this browser's storage (per workflow and node) because ComfyUI restores no node
// output after a reload.  The widget is never serialized: workflows and prompts stay free of task ids and
// balances.
import { app } from "../../../scripts/app.js";
import { chargedText, estimateText } from "./cost.js";
import { TASK_ID_PATTERN, copyWithToast, el, formatTime, shortId } from "./dom.js";
import { onStatus } from "./state.js";
import { onLanguage, onStrings, t } from "./strings.js";
import { injectStyle } from "./style.js";
import { findNode, isPackNode, setTaskIds, taskIdsFor } from "./taskid.js";

export const PROGRESS_TEXT = "$$node-text-preview"; // ComfyUI's own name for the progress-text widget
const STATE = Symbol("hdredrawStatus");
const STORE_KEY = "hdredraw.nodeStatus.v1";
const STORE_LIMIT = 200; // nodes remembered in this browser
const live = new Set(); // nodes with a status widget

/** The node's status: text as the server sent it, task ids, batch, reuse, charge, and when it was last set. */
function stateOf(node) {
  if (!node[STATE]) node[STATE] = { text: "", tasks: [], batch: 0, charged: null, at: 0, restored: false };
  return node[STATE];
}

/** The text with each task id shown by its start; a click on it copies the full id. */
function textNodes(text) {
  const out = [];
  let last = 0;
  for (const match of text.matchAll(TASK_ID_PATTERN)) {
    const id = match[0];
    out.push(text.slice(last, match.index));
    out.push(el("span", {
      class: "hdredraw-id", text: shortId(id), title: t("copyFullId", { id }), "data-task-id": id,
      onclick: (event) => {
        event.stopPropagation();
        void copyWithToast(id);
      },
    }));
    last = match.index + id.length;
  }
  out.push(text.slice(last));
  return out.filter((part) => part !== "");
}

function render(node) {
  const view = node.__hdredrawView;
  if (!view) return;
  const state = stateOf(node);
  view.text.replaceChildren(...textNodes(state.text));
  const cost = state.text && state.charged ? chargedText(state.charged)
    : estimateText(node.comfyClass || node.type, state.batch);
  const when = state.restored && state.at ? t("restored", { at: formatTime(state.at) }) : "";
  view.cost.textContent = [cost, when].filter(Boolean).join(" · ");
  grow(node);
}

/** Classic nodes do not follow their DOM content: make room when the text got longer. */
function grow(node) {
  try {
    if (!node.computeSize || !node.setSize || !node.size) return;
    const wanted = node.computeSize();
    if (wanted[1] > node.size[1]) node.setSize([node.size[0], wanted[1]]);
    node.setDirtyCanvas?.(true, true);
  } catch {
    // a front end without these: its layout follows the DOM
  }
}

/** The height the status needs at the node's width, from its text (never from the DOM, whose size follows this
 * number: measuring it would feed back).  12 px text: about 6.5 px per Latin character, 17 px per line. */
function neededHeight(node) {
  const view = node.__hdredrawView;
  const perLine = Math.max(20, Math.floor(((node.size?.[0] || 300) - 24) / 6.5));
  const text = [stateOf(node).text, view?.cost?.textContent || ""].filter(Boolean).join("\n");
  const width = (line) => [...line].reduce((sum, ch) => sum + (ch > "\u2e80" ? 2 : 1), 0); // CJK: two columns
  const lines = text.split("\n").reduce((sum, line) => sum + Math.max(1, Math.ceil(width(line) / perLine)), 0);
  return 10 + 17 * Math.max(1, lines);
}

function addWidget(node) {
  injectStyle();
  const text = el("div", { class: "hdredraw-status-text" });
  const cost = el("div", { class: "hdredraw-cost" });
  const root = el("div", { class: "hdredraw-ui hdredraw-status", "data-hdredraw-status": "" }, [text, cost]);
  node.__hdredrawView = { root, text, cost };
  const widget = node.addDOMWidget(PROGRESS_TEXT, "hdredraw_status", root, {
    serialize: false,
    hideOnZoom: false,
    getValue: () => stateOf(node).text,
    setValue: (value) => setText(node, typeof value === "string" ? value : String(value ?? "")),
    getMinHeight: () => neededHeight(node),
  });
  widget.serialize = false; // (frontend 1.27's LGraphNode.serialize reads only this one)
  const remove = widget.onRemove;
  widget.onRemove = function onRemove(...args) {
    remove?.apply(this, args);
    // 1.58 removes the progress-text widget when a run ends: put it back with the last text, same place.
    queueMicrotask(() => {
      if (node.graph && !node.widgets?.some((w) => w.name === PROGRESS_TEXT)) addWidget(node);
    });
  };
  live.add(node);
  render(node);
  return widget;
}

/** Give a pack node its status widget (after its other widgets, so it stays last when put back). */
export function installStatus(node) {
  if (!isPackNode(node) || node.widgets?.some((w) => w.name === PROGRESS_TEXT)) return;
  addWidget(node);
}

function setText(node, text) {
  const state = stateOf(node);
  if (text === state.text && !state.restored) return;
  state.text = text;
  state.restored = false;
  render(node);
}

// ------------------------------------------------------------------ server events

const touched = new Set(); // nodes that reported during the current prompt

/** `hdredraw.status` (nodes/runner.py): the same text as progress_text, plus task ids, reuse and balance. */
export function onStatusEvent(detail) {
  const node = findNode(detail.node);
  if (!node || !isPackNode(node)) return;
  const state = stateOf(node);
  const tasks = Array.isArray(detail.tasks) ? detail.tasks : [];
  state.tasks = tasks.map((task) => ({ id: task.task_id || "", reused: Boolean(task.reused) }));
  state.batch = Math.max(tasks.length, 1);
  state.charged = null;
  state.at = Date.now() / 1000;
  setTaskIds(node, tasks.map((task) => task.task_id));
  touched.add(node);
  if (typeof detail.text === "string") setText(node, detail.text);
  else render(node);
}

/** `executed`: cached runs report their task ids as UI output only. */
export function onExecuted(detail) {
  const ids = detail?.output?.task_ids;
  const node = Array.isArray(ids) ? findNode(detail.display_node || detail.node) : null;
  if (node) setTaskIds(node, ids);
}

/** After a prompt: each node that ran gets what its tasks were charged (from GET /hdredraw/tasks). */
export function settleCharges(tasks) {
  const byId = new Map((tasks || []).map((task) => [task.task_id, task]));
  for (const node of touched) {
    const state = stateOf(node);
    const fresh = state.tasks.filter((task) => task.id && !task.reused);
    const known = fresh.map((task) => byId.get(task.id)?.charged).filter(Boolean);
    state.charged = {
      reused: state.tasks.length > 0 && fresh.length === 0,
      known: fresh.length > 0 && known.length === fresh.length,
      exact: known.length === fresh.length && known.every((c) => c.exact),
      count: known.reduce((sum, c) => sum + (c.count || 0), 0),
      money: known.reduce((sum, c) => sum + (c.money || 0), 0),
    };
    render(node);
    remember(node);
  }
  touched.clear();
}

// ------------------------------------------------------------------ this browser's memory

function storeKey(node) {
  const graphId = node.graph?.rootGraph?.id || node.graph?.id || app.graph?.id;
  return graphId ? `${graphId}/${node.id}` : null;
}

function readStore() {
  try {
    const data = JSON.parse(localStorage.getItem(STORE_KEY) || "{}");
    return data && typeof data === "object" ? data : {};
  } catch {
    return {};
  }
}

function remember(node) {
  const key = storeKey(node);
  const state = stateOf(node);
  if (!key || !state.text) return;
  const data = readStore();
  delete data[key];
  data[key] = { text: state.text, tasks: state.tasks, batch: state.batch, charged: state.charged, at: state.at };
  const keys = Object.keys(data);
  for (const old of keys.slice(0, Math.max(0, keys.length - STORE_LIMIT))) delete data[old];
  try {
    localStorage.setItem(STORE_KEY, JSON.stringify(data));
  } catch {
    // storage full or disabled: the status stays until the page is reloaded
  }
}

/** A node loaded from a workflow (reload, tab switch): show its last status from this browser's memory. */
export function restoreStatus(node) {
  if (!isPackNode(node)) return;
  installStatus(node);
  const key = storeKey(node);
  const saved = key && readStore()[key];
  if (!saved || typeof saved.text !== "string") return;
  const state = stateOf(node);
  if (state.text) return; // this node already ran in this page
  Object.assign(state, { text: saved.text, tasks: saved.tasks || [], batch: saved.batch || 0,
                         charged: saved.charged || null, at: saved.at || 0, restored: true });
  if (!taskIdsFor(node).length) setTaskIds(node, state.tasks.map((task) => task.id));
  render(node);
}

function renderAll() {
  for (const node of [...live]) {
    if (!node.graph) live.delete(node);
    else render(node);
  }
}

onStatus(renderAll);
onStrings(renderAll);
onLanguage(renderAll);
