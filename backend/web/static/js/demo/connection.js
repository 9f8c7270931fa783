// The one Socket.IO connection: the indicator that shows its state, and `request`, which
// turns every emit into an ack that always resolves (a timeout is an ack too, with a code).

import { io } from "../../vendor/socket.io-client/socket.io.esm.min.js";

export const ACK_TIMEOUT_MS = 10_000;

const LABELS = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

export class Connection {
  /**
   * `indicator` is the `#connection` element; `name` goes in the connect `auth` (the join's
   * own name, or the token's, wins). Socket.IO reconnects by itself; `onConnect(again)` runs
   * on every connect, so the caller can join again: a server forgets a socket's sessions
   * when the socket goes.
   */
  constructor({ indicator, name, onConnect, onDisconnect }) {
    this.indicator = indicator;
    this.everConnected = false;
    this.closedOnPurpose = false;
    this.socket = io({
      auth: name ? { name } : {},
      reconnectionDelay: 500,
      reconnectionDelayMax: 3000,
    });
    this.show("connecting");
    this.socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.show("connected");
      onConnect(again);
    });
    this.socket.on("disconnect", (reason) => {
      // "io server disconnect": the server cut this socket off (it does so to a flooder);
      // Socket.IO then does not retry, so neither do we: the page says it is offline.
      this.show(this.socket.active && !this.closedOnPurpose ? "reconnecting" : "offline");
      onDisconnect(reason);
    });
    this.socket.on("connect_error", () => {
      const trying = this.everConnected ? "reconnecting" : "connecting";
      this.show(this.socket.active ? trying : "offline");
    });
  }

  get connected() {
    return this.socket.connected;
  }

  on(event, handler) {
    this.socket.on(event, handler);
  }

  /** Emits `event` and resolves with its ack: `{ok: false, error: {code: "timeout"}}` when
   * none came in time, `{ok: false, error: {code: "offline"}}` when not connected (Socket.IO
   * would otherwise buffer the emit and send it, stale, after a reconnect). */
  async request(event, payload) {
    if (!this.socket.connected) {
      return failure("offline", "Not connected to the server: nothing was sent.");
    }
    try {
      const ack = await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
      if (ack && typeof ack === "object") return ack;
      return failure("bad_answer", "The server sent an answer this page does not understand.");
    } catch {
      return failure("timeout", `The server did not answer within ${ACK_TIMEOUT_MS / 1000} s.`);
    }
  }

  /** Fire and forget (ephemeral state): only while connected, never buffered. */
  send(event, payload) {
    if (this.socket.connected) this.socket.emit(event, payload);
  }

  /** Closes the socket for good (the session ended): nothing more to hear. */
  close() {
    this.closedOnPurpose = true;
    this.socket.disconnect();
    this.show("offline");
  }

  /** The indicator is a role=status region: screen readers hear each change. */
  show(state) {
    this.indicator.dataset.state = state;
    this.indicator.querySelector(".connection-label").textContent = LABELS[state];
  }
}

function failure(code, message) {
  return { ok: false, error: { code, message, details: {} } };
}
