// This member's ephemeral state (cursor, drag preview), sent as `set_state` at a bounded rate.
// The server allows 50 events a second per socket and cuts off a flooder, so the stream keeps
// to about 14 a second for a cursor and 20 while dragging; the latest state always goes out.

const CURSOR_INTERVAL_MS = 70;
const DRAG_INTERVAL_MS = 50;

export class StateStream {
  /** `send(state)` emits it (SessionSync.setState). */
  constructor(send) {
    this.send = send;
    this.state = {};
    this.lastSent = 0;
    this.timer = null;
    this.stopped = false;
  }

  /** Merges `patch` into the state (a null value removes a key) and sends it soon. */
  update(patch) {
    if (this.stopped) return;
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || value === undefined) delete this.state[key];
      else this.state[key] = value;
    }
    const interval = this.state.dragging ? DRAG_INTERVAL_MS : CURSOR_INTERVAL_MS;
    const wait = this.lastSent + interval - performance.now();
    if (wait <= 0) {
      this.flush();
    } else if (!this.timer) {
      this.timer = window.setTimeout(() => this.flush(), wait);
    }
  }

  /** Sends the current state now (a drop, a pointer leaving): the last word must not wait. */
  flush() {
    window.clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped) return;
    this.lastSent = performance.now();
    this.send(Object.keys(this.state).length ? { ...this.state } : null);
  }

  /** Forget what was sent: after a rejoin the server holds no state for this member. */
  reset() {
    window.clearTimeout(this.timer);
    this.timer = null;
    this.state = {};
  }

  stop() {
    this.reset();
    this.stopped = true;
  }
}
