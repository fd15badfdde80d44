// The extension's look, built only from what the running front end styles: its CSS variables.
//
// Frontends 1.27 and 1.35 theme PrimeVue (--p-inputtext-*, --p-button-*); 1.58 dropped those styles and themes
// its own components with semantic tokens (--secondary-background, --muted-foreground, --radius-lg, --ring).
// Each property below names the PrimeVue token first and the 1.58 token as its fallback, so in every version
// the pack's fields and buttons take the values ComfyUI's own settings use, and a light palette follows too.
import { el } from "./dom.js";

const TOKENS = `
.hdredraw-ui {
  --hdr-fg: var(--p-text-color, var(--base-foreground, var(--fg-color, #fff)));
  --hdr-muted: var(--p-text-muted-color, var(--muted-foreground, var(--descrip-text, #999)));
  --hdr-border: var(--p-content-border-color, var(--border-default, var(--border-color, #4e4e4e)));
  --hdr-field-bg: var(--p-inputtext-background, var(--secondary-background, var(--comfy-input-bg, #222)));
  --hdr-field-hover-bg: var(--p-inputtext-background, var(--secondary-background-hover, var(--hdr-field-bg)));
  --hdr-field-fg: var(--p-inputtext-color, var(--base-foreground, var(--input-text, #ddd)));
  --hdr-field-border: var(--p-inputtext-border-color, transparent);
  --hdr-field-hover-border: var(--p-inputtext-hover-border-color, transparent);
  --hdr-field-focus-border: var(--p-inputtext-focus-border-color, transparent);
  --hdr-field-ring: var(--ring, transparent);
  --hdr-field-radius: var(--p-inputtext-border-radius, var(--radius-lg, 8px));
  --hdr-field-pad: var(--p-inputtext-padding-y, 0.5rem) var(--p-inputtext-padding-x, 0.75rem);
  /* PrimeVue fields take their height from padding (min-height stays small); 1.58's are h-10 (2.5rem) */
  --hdr-field-height: calc(2 * var(--p-inputtext-padding-y, 1.25rem));
  --hdr-placeholder: var(--p-inputtext-placeholder-color, var(--muted-foreground, #888));
  --hdr-btn-bg: var(--p-button-secondary-background, var(--secondary-background, #333));
  --hdr-btn-hover-bg: var(--p-button-secondary-hover-background, var(--secondary-background-hover, #444));
  --hdr-btn-fg: var(--p-button-secondary-color, var(--base-foreground, #fff));
  --hdr-btn-border: var(--p-button-secondary-border-color, transparent);
  --hdr-btn-radius: var(--p-button-border-radius, var(--radius-lg, 8px));
  --hdr-btn-pad: var(--p-button-sm-padding-y, 0.5rem) var(--p-button-sm-padding-x, 1rem);
  --hdr-warn: var(--p-orange-400, var(--color-gold-600, #e0a040));
  --hdr-ok: var(--p-green-400, var(--color-success, #4ade80));
  --hdr-hover: var(--p-content-hover-background, var(--secondary-background-hover, rgba(127, 127, 127, 0.15)));
  color: var(--hdr-fg);
}`;

const SETTINGS = `
.hdredraw-setting { display: flex; flex-direction: column; align-items: flex-end; gap: 4px; max-width: 28rem; }
.hdredraw-row { display: flex; align-items: center; gap: 8px; }
.hdredraw-input {
  box-sizing: border-box; width: 12rem; min-height: var(--hdr-field-height); padding: var(--hdr-field-pad);
  font: inherit; font-size: 1rem; color: var(--hdr-field-fg); background: var(--hdr-field-bg);
  border: 1px solid var(--hdr-field-border); border-radius: var(--hdr-field-radius); outline: none;
  transition: background-color .15s, border-color .15s, box-shadow .15s;
}
.hdredraw-input.hdredraw-wide { width: 18rem; }
.hdredraw-input::placeholder { color: var(--hdr-placeholder); }
.hdredraw-input:hover { background: var(--hdr-field-hover-bg); border-color: var(--hdr-field-hover-border); }
.hdredraw-input:focus-visible, .hdredraw-input:focus {
  border-color: var(--hdr-field-focus-border); box-shadow: 0 0 0 1px var(--hdr-field-ring);
}
.hdredraw-input[type=number] { -moz-appearance: textfield; }
.hdredraw-input[type=number]::-webkit-inner-spin-button, .hdredraw-input[type=number]::-webkit-outer-spin-button { -webkit-appearance: none; margin: 0; }
.hdredraw-locked { position: relative; }
.hdredraw-locked .hdredraw-input, .hdredraw-locked .hdredraw-input:hover {
  padding-left: 2rem; background: transparent; border: 1px dashed var(--hdr-border); box-shadow: none;
  color: var(--hdr-muted); cursor: not-allowed; -webkit-text-fill-color: var(--hdr-muted); opacity: 1;
}
.hdredraw-locked .hdredraw-lock {
  position: absolute; left: 0.7rem; top: 50%; transform: translateY(-50%); font-size: 0.8rem; color: var(--hdr-muted);
  pointer-events: none;
}
.hdredraw-btn {
  box-sizing: border-box; min-height: var(--hdr-field-height); padding: var(--hdr-btn-pad); font: inherit;
  font-size: 0.875rem; font-weight: 500; white-space: nowrap; cursor: pointer; color: var(--hdr-btn-fg);
  background: var(--hdr-btn-bg); border: 1px solid var(--hdr-btn-border); border-radius: var(--hdr-btn-radius);
  transition: background-color .15s;
}
.hdredraw-btn:hover:not(:disabled) { background: var(--hdr-btn-hover-bg); }
.hdredraw-btn:focus-visible { outline: none; box-shadow: 0 0 0 1px var(--hdr-field-ring, var(--hdr-field-focus-border)); }
.hdredraw-btn:disabled { opacity: 0.5; cursor: not-allowed; }
.hdredraw-note { font-size: 0.75rem; line-height: 1.35; color: var(--hdr-muted); text-align: right; max-width: 28rem; }
.hdredraw-note.hdredraw-env { color: var(--hdr-warn); }
.hdredraw-note.hdredraw-set { color: var(--hdr-ok); }`;

const PANEL = `
.hdredraw-badge .pi { font-size: .9em; }
.hdredraw-badge.hdredraw-unknown { opacity: .7; }
.hdredraw-panel { padding: 12px; display: flex; flex-direction: column; gap: 12px; font-size: .875rem; }
.hdredraw-panel h3 { margin: 0; font-size: 1rem; font-weight: 600; display: flex; align-items: center; gap: 8px; }
.hdredraw-panel h3 .hdredraw-grow { flex: 1; }
.hdredraw-panel .hdredraw-balance { font-size: 1.1rem; }
.hdredraw-muted { color: var(--hdr-muted); font-size: .8rem; overflow-wrap: anywhere; }
.hdredraw-tasks { display: flex; flex-direction: column; gap: 6px; list-style: none; padding: 0; margin: 0; }
.hdredraw-tasks li {
  border: 1px solid var(--hdr-border); border-radius: var(--hdr-field-radius); padding: 6px 8px;
  display: flex; gap: 8px; align-items: center;
}
.hdredraw-tasks .hdredraw-task-main { flex: 1; min-width: 0; }
.hdredraw-tasks code { font-family: monospace; font-size: .8rem; display: block; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.hdredraw-icon-btn { background: none; border: none; color: var(--hdr-fg); cursor: pointer; padding: 4px; border-radius: 4px; }
.hdredraw-icon-btn:hover { background: var(--hdr-hover); }`;

const STATUS = `
.hdredraw-status {
  box-sizing: border-box; width: 100%; padding: 4px 6px; font-size: 12px; line-height: 1.4;
  color: var(--hdr-fg); white-space: pre-wrap; overflow-wrap: anywhere; overflow: hidden;
}
.hdredraw-status .hdredraw-status-text:empty { display: none; }
.hdredraw-status .hdredraw-cost { color: var(--hdr-muted); }
.hdredraw-status .hdredraw-id {
  cursor: copy; text-decoration: underline dotted; text-underline-offset: 2px; font-family: monospace;
}
.hdredraw-status .hdredraw-id:hover { color: var(--hdr-ok); }`;

/** Add the stylesheet once; every view root also carries the class "hdredraw-ui" (the tokens). */
export function injectStyle() {
  if (document.getElementById("hdredraw-style")) return;
  document.head.append(el("style", { id: "hdredraw-style", text: TOKENS + SETTINGS + PANEL + STATUS }));
}
