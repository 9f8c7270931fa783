// Invite links: a join token minted for the open session (POST /sessions/<id>/tokens), put in
// a demo-board link's fragment (which browsers never send to a server), ready to copy.

import { $, announce, copyText } from "../dom.js";
import { localTime, relative } from "./format.js";
import { busy, clearError, setText, showError } from "./ui.js";

const DEFAULT_NAME = "Guest";

export class InviteForm {
  constructor({ client }) {
    this.client = client;
    this.sessionId = null;
    this.error = $("#invite-error");
    const form = $("#invite-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form.querySelector("button[type=submit]"), () => this.mint());
    });
    $("#invite-copy").addEventListener("click", () => this.copy());
  }

  /** A new session starts with a clean form: a link is for the session it was made for. */
  open(sessionId) {
    if (sessionId === this.sessionId) return;
    this.sessionId = sessionId;
    this.reset();
  }

  /** On sign-out: a minted token must not stay in the page. */
  close() {
    this.sessionId = null;
    this.reset();
    $("#invite-form").reset();
  }

  reset() {
    $("#invite-result").hidden = true;
    $("#invite-link").value = "";
    setText($("#invite-expiry"), "");
    clearError(this.error);
  }

  async mint() {
    const sessionId = this.sessionId;
    const body = {
      name: $("#invite-name").value.trim() || DEFAULT_NAME,
      role: $("#invite-role").value,
    };
    const ttl = $("#invite-ttl").value.trim();
    if (ttl) {
      const seconds = Number(ttl);
      if (!Number.isInteger(seconds) || seconds < 1) {
        showError(this.error, "“Valid for” is a whole number of seconds, at least 1.");
        $("#invite-ttl").focus();
        return;
      }
      body.ttl_seconds = seconds;
    }
    try {
      const minted = await this.client.call(`/sessions/${encodeURIComponent(sessionId)}/tokens`, {
        method: "POST",
        body,
      });
      if (sessionId !== this.sessionId) return;
      clearError(this.error);
      this.show(minted);
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }

  show(minted) {
    const session = encodeURIComponent(minted.session_id);
    const token = encodeURIComponent(minted.token);
    const link = `${window.location.origin}/demo/?session=${session}#token=${token}`;
    const field = $("#invite-link");
    field.value = link;
    setText(
      $("#invite-expiry"),
      `A ${minted.role} link for “${$("#invite-name").value.trim() || DEFAULT_NAME}”; ` +
        `it can be used to join until ${localTime(minted.expires_at)} ` +
        `(${relative(minted.expires_at)}).`,
    );
    if (document.body.dataset.webDemo === "false") {
      // The link's page is off here; the token itself still admits whoever holds it.
      $("#invite-expiry").append(
        " This server does not serve /demo/ (WEB_DEMO is off): give the token to your own client.",
      );
    }
    $("#invite-result").hidden = false;
    field.focus();
    field.select();
    announce(`Invite link for a ${minted.role} created`);
  }

  /** The clipboard API needs permission and a secure context; without it, select the text. */
  async copy() {
    const field = $("#invite-link");
    if (await copyText(field.value)) {
      announce("Invite link copied");
      setText($("#invite-copy"), "Copied");
      window.setTimeout(() => setText($("#invite-copy"), "Copy"), 2000);
    } else {
      field.focus();
      field.select();
      announce("Could not copy: the link is selected, press Ctrl+C (or Cmd+C) to copy it");
    }
  }
}
