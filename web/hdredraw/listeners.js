// Telling the views that something changed: every listener runs, and one that fails does not stop the rest.

export function notify(listeners) {
  for (const listener of [...listeners]) {
    try {
      listener();
    } catch (error) {
      console.warn("[HD Redraw] view update failed", error);
    }
  }
}
