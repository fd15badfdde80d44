// The pack's own routes (nodes/routes.py): status and settings, recent tasks, strings.
//
// Every request carries X-HDRedraw-Client: the routes refuse requests without it, which a page on another site
// cannot send without a CORS preflight that ComfyUI never grants, so no other web page can read the status or
// repoint the base URL.
import { api } from "../../../scripts/api.js";

export const CLIENT_HEADER = "X-HDRedraw-Client";
export const CLIENT_VALUE = "1";

/** An error answer of a pack route, with the route's bilingual message when it sent one. */
export class RequestError extends Error {
  constructor(message, body, route = "", status = "") {
    super(message);
    this.body = body || {};
    this.route = route;
    this.status = status;
  }

  /** The route's own message in `lang`, or "" when it sent none (see dom.js describeError). */
  localized(lang) {
    return (lang === "zh" && this.body.error_zh) || this.body.error || "";
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
  const status = `${response.status} ${response.statusText}`.trim();
  return new RequestError(body.error || `${route}: HTTP ${status}`, body, route, status);
}

export async function getJSON(route) {
  const response = await api.fetchApi(route, { cache: "no-store", headers: { [CLIENT_HEADER]: CLIENT_VALUE } });
  const body = await readJSON(response);
  if (!response.ok) throw failure(route, response, body);
  return body;
}

export async function postJSON(route, data) {
  const response = await api.fetchApi(route, {
    method: "POST",
    headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_VALUE },
    body: JSON.stringify(data),
  });
  const body = await readJSON(response);
  if (!response.ok) throw failure(route, response, body);
  return body;
}
