// Combo values in the user's language ("all sides" → "四周无缝").
//
// A combo's values are data (they are stored in workflows and sent to the server), so they stay as the specs
// name them; only what is shown changes.  The canvas combo of frontends 1.35+ and Nodes 2.0 of 1.58 ask the
// widget's `getOptionLabel`; Nodes 2.0 of 1.35 hands the widget's options to PrimeVue's Select, whose
// `optionLabel` may be a function; 1.27's canvas combo draws `_displayValue` and opens a plain menu of values,
// so there the pack supplies both.
import { DATA } from "./generated.js";
import { optionLabel } from "./strings.js";

function frontendLabelsOptions(widget) {
  // Whether this front end's combo widget consults options.getOptionLabel (1.35+).
  let proto = Object.getPrototypeOf(widget);
  while (proto && proto !== Object.prototype) {
    const getter = Object.getOwnPropertyDescriptor(proto, "_displayValue")?.get;
    if (getter) return getter.toString().includes("getOptionLabel");
    proto = Object.getPrototypeOf(proto);
  }
  return true; // no canvas combo class at all (Nodes 2.0 only): it reads getOptionLabel
}

function labelMenu(widget, node, label) {
  // 1.27: the canvas combo's own menu lists raw values; list the labels instead and map the choice back.
  const original = widget.onClick?.bind(widget);
  if (!original || !globalThis.LiteGraph?.ContextMenu) return;
  widget.onClick = function onClick(options) {
    const { e, canvas } = options;
    const x = e.canvasX - node.pos[0];
    const width = this.width || node.size[0];
    const values = Array.isArray(this.options?.values) ? this.options.values : null;
    if (!values || x < 40 || x > width - 40) return original(options); // the arrows step as before
    const labels = values.map((value) => label(value));
    new globalThis.LiteGraph.ContextMenu(labels, {
      scale: Math.max(1, canvas.ds.scale), event: e, className: "dark",
      callback: (chosen) => {
        const index = labels.indexOf(chosen?.content ?? chosen);
        if (index >= 0) this.setValue(values[index], options);
      },
    });
    return undefined;
  };
}

/** Show every combo of a pack node by its label in the current language. */
export function labelCombos(node) {
  const type = node.comfyClass || node.type || "";
  if (!DATA.nodes[type]) return;
  for (const widget of node.widgets ?? []) {
    if (widget.type !== "combo") continue;
    const label = (value) => optionLabel(type, widget.name, value == null ? value : String(value));
    widget.options = widget.options || {};
    widget.options.getOptionLabel = label;
    widget.options.optionLabel = label;
    if (!frontendLabelsOptions(widget)) {
      try {
        Object.defineProperty(widget, "_displayValue", {
          configurable: true, get: () => (widget.computedDisabled ? "" : label(widget.value)),
        });
      } catch {
        // a sealed widget: it shows the value itself
      }
      labelMenu(widget, node, label);
    }
  }
}
