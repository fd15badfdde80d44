// Node search in both languages: every pack node's search words (nodes/aliases.py, via generated.js).
//
// ComfyUI sends a node's SEARCH_ALIASES as `search_aliases` from releases after 0.8.0, and frontends from
// 1.5x search them.  With an older back end (0.8.0 with the newest front end) the definitions arrive without
// them, so the pack adds the same list to its own definitions before the front end indexes them.
import { DATA } from "./generated.js";

export function addSearchAliases(defs) {
  for (const [type, info] of Object.entries(DATA.nodes)) {
    const def = defs?.[type];
    if (def && !(Array.isArray(def.search_aliases) && def.search_aliases.length)) def.search_aliases = info.aliases;
  }
}
