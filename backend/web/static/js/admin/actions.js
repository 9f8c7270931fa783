// What an admin can do to one session: pin or unpin it, set or clear its TTL (PATCH), and end
// it (DELETE) after a confirmation inside the page, never window.confirm.

import { $, announce } from "../dom.js";
import { count, titleOf } from "./format.js";
import { busy, clearError, setText, showError } from "./ui.js";

export class SessionActions {
  /** `onChanged()` refreshes whatever shows the session after a change went through. */
  constructor({ client, onChanged }) {
    this.client = client;
    this.onChanged = onChanged;
    this.session = null;
    this.error = $("#action-error");
    this.pin = $("#pin-button");
    this.pin.addEventListener("click", () => busy(this.pin, () => this.togglePin()));
    $("#ttl-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.setTtl();
    });
    $("#ttl-clear").addEventListener("click", () =>
      this.update({ ttl_seconds: null }, "TTL cleared"),
    );
    $("#end-button").addEventListener("click", () => this.askToEnd());
    $("#end-confirm-no").addEventListener("click", () => this.cancelEnd());
    const yes = $("#end-confirm-yes");
    yes.addEventListener("click", () => busy(yes, () => this.end()));
    $("#end-confirm").addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.cancelEnd();
    });
  }

  /** Called with each fresh detail: the buttons say what they would do now. */
  show(detail) {
    const changed = !this.session || this.session.session_id !== detail.session_id;
    this.session = detail;
    if (changed) {
      this.hideConfirm();
      clearError(this.error);
      $("#ttl-input").value = "";
    }
    $("#detail-actions").hidden = !detail.is_active;
    $("#detail-ended-note").hidden = detail.is_active;
    setText(this.pin, detail.pinned ? "Unpin" : "Pin");
    this.pin.title = detail.pinned
      ? "Let the idle sweep end this session again"
      : "Keep this session from being ended as idle";
    $("#ttl-input").placeholder = detail.ttl_seconds ? String(detail.ttl_seconds) : "none";
    $("#ttl-clear").disabled = !detail.ttl_seconds;
    if (!detail.is_active) this.hideConfirm();
  }

  reset() {
    this.session = null;
    this.hideConfirm();
    clearError(this.error);
  }

  togglePin() {
    const pinned = !this.session.pinned;
    return this.update({ pinned }, pinned ? "Session pinned" : "Session unpinned");
  }

  setTtl() {
    const text = $("#ttl-input").value.trim();
    const seconds = Number(text);
    if (!text || !Number.isInteger(seconds) || seconds < 1) {
      showError(
        this.error,
        "The TTL is a whole number of seconds, at least 1 (counted from the session's creation).",
      );
      $("#ttl-input").focus();
      return;
    }
    return this.update({ ttl_seconds: seconds }, `TTL set to ${seconds} seconds`);
  }

  async update(changes, done) {
    const sessionId = this.session.session_id;
    try {
      await this.client.call(`/sessions/${encodeURIComponent(sessionId)}`, {
        method: "PATCH",
        body: changes,
      });
      clearError(this.error);
      if ("ttl_seconds" in changes) $("#ttl-input").value = "";
      announce(done);
      await this.onChanged();
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }

  askToEnd() {
    const session = this.session;
    const clients = session.active_clients;
    setText(
      $("#end-confirm-text"),
      `End “${titleOf(session)}”? ${count(clients)} connected ` +
        `${clients === 1 ? "client is" : "clients are"} ` +
        "told the session ended (ended_by_admin) and removed from it. This cannot be undone.",
    );
    $("#end-confirm").hidden = false;
    $("#end-button").setAttribute("aria-expanded", "true");
    $("#end-confirm-no").focus();
  }

  cancelEnd() {
    this.hideConfirm();
    $("#end-button").focus();
  }

  hideConfirm() {
    $("#end-confirm").hidden = true;
    $("#end-button").setAttribute("aria-expanded", "false");
  }

  async end() {
    const sessionId = this.session.session_id;
    try {
      await this.client.call(`/sessions/${encodeURIComponent(sessionId)}`, { method: "DELETE" });
      this.hideConfirm();
      clearError(this.error);
      announce("Session ended");
      await this.onChanged();
      $("#detail-title").focus();
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }
}
