import type { Timers } from '../../src/backends/local/canary-watch.js';

/** Timers a test fires by hand; `pending()` says how many are set and not yet fired or cleared. */
export function manualTimers(): Timers & { pending(): number; fireAll(): number } {
  let nextId = 1;
  const set = new Map<number, () => void>();
  return {
    setTimeout(callback) {
      const id = nextId++;
      set.set(id, callback);
      return id;
    },
    clearTimeout(handle) {
      set.delete(handle as number);
    },
    pending: () => set.size,
    /** Fires every timer set so far (not those the callbacks set); returns how many fired. */
    fireAll() {
      const due = [...set.entries()];
      set.clear();
      for (const [, callback] of due) callback();
      return due.length;
    },
  };
}
