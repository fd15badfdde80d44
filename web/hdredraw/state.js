// What the server says about the pack: settings and their sources, the last balance seen, learned prices and
// today's spend (GET /hdredraw/status), shared by the settings dialog, the badge, the sidebar and the nodes.
import { notify } from "./listeners.js";
import { getJSON, postJSON } from "./server.js";

let status = null; // the last GET /hdredraw/status answer
let statusError = null;
let fetchedAt = 0;
let inFlight = null;
let balance = null; // { remaining_count, remaining_money, at }
const statusListeners = new Set();
const balanceListeners = new Set();

export function currentStatus() {
  return status;
}

export function currentError() {
  return statusError;
}

export function currentBalance() {
  return balance;
}

export function onStatus(listener) {
  statusListeners.add(listener);
  return () => statusListeners.delete(listener);
}

export function onBalance(listener) {
  balanceListeners.add(listener);
  return () => balanceListeners.delete(listener);
}

export function hasBalance(b) {
  return Boolean(b) && ((b.remaining_count !== undefined && b.remaining_count !== null) ||
                        (b.remaining_money !== undefined && b.remaining_money !== null));
}

/** Take a balance the server reported, unless an older figure than the one shown. */
export function setBalance(b) {
  if (!hasBalance(b)) return;
  if (balance?.at && b.at && b.at < balance.at) return;
  balance = { ...b };
  notify(balanceListeners);
}

function apply(body) {
  if (!body || typeof body !== "object" || !body.settings) return;
  status = body;
  statusError = null;
  setBalance(body.balance);
  notify(statusListeners);
}

/** Ask the server again (one request at a time); resolves to the latest answer (or the previous one). */
export function refreshStatus() {
  if (!inFlight) {
    inFlight = getJSON("/hdredraw/status")
      .then((body) => {
        apply(body);
        return body;
      })
      .catch((error) => {
        statusError = error;
        notify(statusListeners);
        return status;
      })
      .finally(() => {
        fetchedAt = Date.now();
        inFlight = null;
      });
  }
  return inFlight;
}

export function refreshStatusSoon() {
  if (Date.now() - fetchedAt > 1500) void refreshStatus();
}

export async function saveSettings(update) {
  const body = await postJSON("/hdredraw/settings", update);
  apply(body);
  return body;
}

/** The learned price of one operation ({count, money, samples}) or undefined. */
export function priceOf(op) {
  return status?.prices?.[op];
}

export function spendToday() {
  return status?.spend_today;
}
