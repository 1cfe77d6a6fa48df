// Where "the window regained focus" and "the network came back" come from: small swappable
// sources (TanStack Query's focusManager / onlineManager seam). Browsers get DOM listeners by
// default; Tauri, React Native or a test plug in their own with `setEventListener`, without
// touching the client.

/**
 * A source of one kind of event. `setup(fire)` starts listening and returns a cleanup; it runs
 * while at least one client listens.
 */
export class EventSource {
  #setup;
  #cleanup = null;
  #listeners = new Set();

  constructor(setup) {
    this.#setup = setup;
  }

  #fire = () => {
    for (const l of [...this.#listeners]) l();
  };

  /** Replace how events are received (`setup(fire) → cleanup`), at once if clients listen. */
  setEventListener(setup) {
    this.#setup = setup;
    if (this.#listeners.size > 0) {
      this.#cleanup?.();
      this.#cleanup = setup(this.#fire) ?? null;
    }
  }

  /** Listen; returns the function that stops. */
  subscribe(listener) {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#cleanup = this.#setup(this.#fire) ?? null;
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) {
        this.#cleanup?.();
        this.#cleanup = null;
      }
    };
  }
}

/** `visibilitychange` to visible on `doc` (no-op without one). */
export function visibilityEvents(doc) {
  return (fire) => {
    if (!doc || typeof doc.addEventListener !== 'function') return undefined;
    const on = () => {
      if (doc.visibilityState !== 'hidden') fire();
    };
    doc.addEventListener('visibilitychange', on);
    return () => doc.removeEventListener('visibilitychange', on);
  };
}

/** `online` on `win` (no-op without one). */
export function onlineEvents(win) {
  return (fire) => {
    if (!win || typeof win.addEventListener !== 'function') return undefined;
    win.addEventListener('online', fire);
    return () => win.removeEventListener('online', fire);
  };
}

/** The page regained focus (default: `document` visibility). */
export const focusManager = new EventSource(visibilityEvents(typeof document !== 'undefined' ? document : null));
/** The network came back (default: `window`'s `online`). */
export const onlineManager = new EventSource(onlineEvents(typeof window !== 'undefined' ? window : null));
