// Membership of one session and the order of its changes. Every change has a version; this
// page applies them strictly in order, whichever way they come (the join ack, this page's own
// acks, other people's `operation` events), drops versions it holds, and rejoins with
// `since_version` when one stays missing. After a reconnect it joins again the same way: the
// server forgot this socket's sessions when the old one went.

const GAP_GRACE_MS = 800; // a missing version may still be on its way (another process)
const RETRY_JOIN_MS = 3000;

export class SessionSync {
  /**
   * `events`: joined(ack, {first}), joinFailed(error), changed(), presence(diff),
   * state(clientId, state), ended(reason), left().
   */
  constructor({ connection, sessionId, name, token, doc, events }) {
    this.connection = connection;
    this.sessionId = sessionId;
    this.name = name;
    this.token = token;
    this.doc = doc;
    this.events = events;
    this.joined = false;
    this.everJoined = false;
    this.refused = false; // a join was refused for good: no retry on reconnect
    this.ended = false;
    this.joining = null; // the join in flight, if any
    this.joinAgain = false;
    this.attempt = 0; // which join an answer belongs to
    this.buffer = new Map(); // version -> op, waiting for the versions before it
    this.gapTimer = null;
    this.heard = []; // presence and state news that came while a join was being answered

    const mine = (payload) => payload && payload.session_id === this.sessionId;
    connection.on("operation", (payload) => {
      if (mine(payload) && Number.isInteger(payload.version)) {
        this.receive(payload.version, payload.op);
      }
    });
    connection.on("presence", (payload) => {
      if (mine(payload)) this.hear(() => this.events.presence(payload));
    });
    connection.on("state", (payload) => {
      if (mine(payload)) this.hear(() => this.events.state(payload.client_id, payload.state));
    });
    connection.on("session_ended", (payload) => {
      if (mine(payload)) this.end(payload.reason);
    });
  }

  /** Socket (re)connected: join, unless the session is over or refused this page. */
  connected() {
    if (!this.ended && !this.refused) this.join();
  }

  /** Socket gone: the server has already forgotten this membership, and a join in flight
   * will never be answered by it; the next connect joins afresh. */
  disconnected() {
    this.attempt += 1;
    this.joining = null;
    this.joinAgain = false;
    this.joined = false;
    if (!this.ended) this.events.left();
  }

  /** Joins, or rejoins from the version held; concurrent calls share one join. */
  join() {
    if (this.joining) {
      this.joinAgain = true;
      return this.joining;
    }
    const joining = this.joinOnce(++this.attempt).finally(() => {
      if (this.joining !== joining) return; // abandoned: the socket went meanwhile
      this.joining = null;
      const again = this.joinAgain;
      this.joinAgain = false;
      if (again && !this.ended && !this.refused && this.connection.connected) this.join();
    });
    this.joining = joining;
    return joining;
  }

  async joinOnce(attempt) {
    const payload = { session_id: this.sessionId };
    if (this.token) payload.token = this.token;
    else if (this.name) payload.name = this.name;
    if (this.everJoined) payload.since_version = this.doc.version;
    this.heard = [];
    const ack = await this.connection.request("join_session", payload);
    if (attempt !== this.attempt || this.ended) return; // a stale answer
    if (!ack.ok) {
      const code = ack.error && ack.error.code;
      if (code === "session_ended") {
        this.end(endReasonOf(ack.error));
      } else {
        // A timeout, a busy or unreachable database, a refusal for speed: worth another try
        // shortly. Anything else (not found, forbidden, full…) this page cannot change.
        if (["timeout", "offline", "service_unavailable", "rate_limited"].includes(code)) {
          window.setTimeout(() => {
            if (!this.joined && !this.joining && this.connection.connected) this.connected();
          }, RETRY_JOIN_MS);
        } else {
          this.refused = true;
        }
        this.events.joinFailed(ack.error || { code: "unknown", message: "The join failed." });
      }
      return;
    }
    const first = !this.everJoined;
    this.joined = true;
    this.everJoined = true;
    if (ack.document) {
      this.doc.reset(ack.document);
    } else {
      for (const entry of ack.ops || []) {
        if (entry.version > this.doc.version) this.doc.apply(entry.version, entry.op);
      }
    }
    this.events.joined(ack, { first });
    for (const apply of this.heard.splice(0)) apply();
    this.drain(true);
  }

  /**
   * Presence and state news: applied when joined, kept while a join is answered (the socket
   * is in the room before its ack is sent, so news may overtake the ack; applied after the
   * ack's full picture, it is never lost), dropped otherwise.
   */
  hear(apply) {
    if (this.joining) this.heard.push(apply);
    else if (this.joined) apply();
  }

  /** A change at `version`, from anywhere: applied in order, never twice. */
  receive(version, op) {
    if (version <= this.doc.version) return;
    this.buffer.set(version, op);
    if (!this.joining) this.drain(false);
  }

  drain(changed) {
    let applied = changed;
    for (const version of this.buffer.keys()) {
      if (version <= this.doc.version) this.buffer.delete(version);
    }
    while (this.buffer.has(this.doc.version + 1)) {
      const version = this.doc.version + 1;
      this.doc.apply(version, this.buffer.get(version));
      this.buffer.delete(version);
      applied = true;
    }
    if (applied) this.events.changed();
    if (this.buffer.size === 0) {
      window.clearTimeout(this.gapTimer);
      this.gapTimer = null;
    } else if (!this.gapTimer) {
      this.gapTimer = window.setTimeout(() => {
        this.gapTimer = null;
        if (this.buffer.size && this.joined) this.join();
      }, GAP_GRACE_MS);
    }
  }

  get canWrite() {
    return this.joined && !this.ended && this.connection.connected;
  }

  /** Sends one operation; resolves with its ack (applied locally when ok). */
  async operate(op) {
    return this.write("operation", { session_id: this.sessionId, op }, () => op);
  }

  /** `undo` or `redo`: the ack's `op` is what the server applied (an inverse for undo). */
  async history(kind) {
    return this.write(kind, { session_id: this.sessionId }, (ack) => ack.op);
  }

  async write(event, payload, opOf) {
    if (!this.canWrite) {
      return { ok: false, error: { code: "offline", message: "Not connected: nothing was sent." } };
    }
    const ack = await this.connection.request(event, payload);
    if (ack.ok) {
      this.receive(ack.version, opOf(ack));
    } else {
      const code = ack.error && ack.error.code;
      if (code === "session_ended") this.end(endReasonOf(ack.error));
      // The change may have been made and its ack lost, or the server forgot this socket:
      // joining again from the version held brings both sides together.
      if (code === "timeout" || code === "not_joined") this.join();
    }
    return ack;
  }

  /** This member's ephemeral state (cursor, drag preview); dropped when not joined. */
  setState(state) {
    if (this.joined && !this.ended) {
      this.connection.send("set_state", { session_id: this.sessionId, state });
    }
  }

  end(reason) {
    if (this.ended) return;
    this.ended = true;
    this.joined = false;
    window.clearTimeout(this.gapTimer);
    this.buffer.clear();
    this.events.ended(reason);
  }
}

/** A `session_ended` refusal names why in `details.end_reason`. */
function endReasonOf(error) {
  return (error.details && error.details.end_reason) || null;
}
