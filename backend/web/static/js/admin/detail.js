// One session's detail: its numbers (GET /sessions/<id>), who is in it (/clients) and how big
// its document is (/document, fetched again only when the version moves).

import { $, h, replaceChildren } from "../dom.js";
import {
  agoElement,
  bytes,
  count,
  duration,
  fullTime,
  localTime,
  relative,
  titleOf,
} from "./format.js";
import { statusBadge } from "./sessions.js";
import { clearError, fillFacts, setText, showError } from "./ui.js";

export class SessionDetail {
  /** `onShown(detail)` runs after each render: the actions follow the session's state. */
  constructor({ client, onShown }) {
    this.client = client;
    this.onShown = onShown;
    this.sessionId = null;
    this.document = null; // {version, nodes, bytes} of the last snapshot fetched
    this.error = $("#detail-error");
  }

  /** Opens `sessionId`; the heading takes focus so a keyboard user lands on what opened. */
  async open(sessionId) {
    this.sessionId = sessionId;
    this.document = null;
    this.last = null;
    clearError(this.error);
    $("#detail-placeholder").hidden = true;
    setText($("#detail-id"), sessionId);
    setText($("#detail-title"), "Loading…");
    $("#detail-body").hidden = false;
    await this.refresh();
    const heading = $("#detail-title");
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }

  close() {
    this.sessionId = null;
    this.document = null;
    this.last = null;
    $("#detail-body").hidden = true;
    $("#detail-status").hidden = true;
    $("#detail-placeholder").hidden = false;
    setText($("#detail-title"), "Session detail");
    clearError(this.error);
    replaceChildren($("#clients-body"));
    replaceChildren($("#detail-facts"));
  }

  async refresh() {
    const sessionId = this.sessionId;
    if (!sessionId) return;
    const path = `/sessions/${encodeURIComponent(sessionId)}`;
    try {
      const [detail, members] = await Promise.all([
        this.client.call(path),
        this.client.call(`${path}/clients`),
      ]);
      if (!this.document || this.document.version !== detail.version) {
        const snapshot = await this.client.call(`${path}/document`);
        // What the API sent, as compact JSON: the size a client downloads to catch up.
        const size = new TextEncoder().encode(JSON.stringify(snapshot)).length;
        this.document = { version: snapshot.version, nodes: snapshot.nodes.length, bytes: size };
      }
      if (sessionId !== this.sessionId) return;
      this.last = detail;
      this.render(detail, members.clients);
      clearError(this.error);
    } catch (error) {
      if (sessionId !== this.sessionId || error.reported) return;
      if (error.code === "session_not_found") {
        showError(
          this.error,
          "This session no longer exists (ended sessions are purged after the retention period).",
        );
        $("#detail-body").hidden = true;
        return;
      }
      showError(this.error, error);
    }
  }

  render(detail, clients) {
    setText($("#detail-title"), titleOf(detail));
    const status = $("#detail-status");
    replaceChildren(status, statusBadge(detail));
    status.hidden = false;
    fillFacts($("#detail-facts"), facts(detail, this.document));
    renderClients(clients);
    this.onShown(detail);
  }
}

function facts(detail, document) {
  const ttl = detail.ttl_seconds
    ? `${duration(detail.ttl_seconds)} ` +
      `(expires ${localTime(detail.expires_at)}, ${relative(detail.expires_at)})`
    : "none";
  return [
    ["Project", detail.project_id],
    ["Created", timeWithAgo(detail.created_at)],
    ["Last activity", agoElement(detail.last_activity)],
    ["Duration", duration(detail.duration_seconds)],
    ["Live clients", `${count(detail.active_clients)} (peak ${count(detail.peak_clients)})`],
    ["Pinned", detail.pinned ? "yes (never idle-swept)" : "no"],
    ["TTL", ttl],
    detail.ended_at ? ["Ended", timeWithAgo(detail.ended_at)] : null,
    detail.end_reason ? ["End reason", h("code", {}, detail.end_reason)] : null,
    ["Document", documentSummary(detail, document)],
    [
      "History",
      `undo ${detail.undo_available ? "available" : "empty"}, ` +
        `redo ${detail.redo_available ? "available" : "empty"}`,
    ],
  ];
}

function documentSummary(detail, document) {
  const size = document ? `, ${bytes(document.bytes)} as JSON` : "";
  return h(
    "span",
    { id: "detail-document" },
    `version ${count(detail.version)}, ${count(detail.node_count)} nodes${size}`,
  );
}

function timeWithAgo(iso) {
  return h("time", { datetime: iso, title: fullTime(iso) }, `${localTime(iso)} (${relative(iso)})`);
}

function renderClients(clients) {
  replaceChildren(
    $("#clients-body"),
    clients.map((client) =>
      h(
        "tr",
        { dataset: { clientId: client.client_id } },
        h("td", {}, client.name || h("span", { class: "muted" }, "(no name)")),
        h("td", {}, h("span", { class: `badge role-${client.role}` }, client.role)),
        h("td", {}, client.user_id ? h("code", {}, client.user_id) : dash()),
        h("td", {}, agoElement(client.joined_at)),
      ),
    ),
  );
  $("#clients-empty").hidden = clients.length > 0;
  $("#clients-table").hidden = clients.length === 0;
}

function dash() {
  return h("span", { class: "muted" }, "–");
}
