// The sessions table: status and project filters, a page at a time ("Load more" follows
// next_cursor), refreshed in place so the row a keyboard user is on keeps its focus.

import { $, h, replaceChildren } from "../dom.js";
import { agoElement, count, fullTime, localTime, shortId, titleOf } from "./format.js";
import { busy, clearError, setText, showError } from "./ui.js";

const PAGE_SIZE = 50;
const MAX_LIMIT = 500; // the API's limit

export class SessionsTable {
  /** `onSelect(sessionId)` opens a session's detail. */
  constructor({ client, onSelect }) {
    this.client = client;
    this.onSelect = onSelect;
    this.body = $("#sessions-body");
    this.error = $("#sessions-error");
    this.more = $("#sessions-more");
    this.rows = new Map(); // session id -> {tr, button, cells}
    this.known = new Map(); // session id -> the latest summary seen (for titles elsewhere)
    this.nextCursor = null;
    this.selectedId = null;
    this.filters = { status: "active", project_id: "" };
    this.generation = 0; // a filter change makes answers to older queries stale
    $("#sessions-filters").addEventListener("submit", (event) => {
      event.preventDefault();
      this.applyFilters();
    });
    $("#status-filter").addEventListener("change", () => this.applyFilters());
    $("#project-filter").addEventListener("change", () => this.applyFilters());
    this.more.addEventListener("click", () => busy(this.more, () => this.loadMore()));
  }

  title(sessionId) {
    return this.known.has(sessionId) ? titleOf(this.known.get(sessionId)) : null;
  }

  applyFilters() {
    const status = $("#status-filter").value;
    const project = $("#project-filter").value.trim();
    if (status === this.filters.status && project === this.filters.project_id) return;
    this.filters = { status, project_id: project };
    this.generation += 1;
    this.clearRows();
    return this.refresh();
  }

  /** The first rows again, as many as are shown now (so "Load more" pages stay loaded). */
  async refresh() {
    const generation = this.generation;
    const limit = Math.min(MAX_LIMIT, Math.max(PAGE_SIZE, this.rows.size));
    try {
      const page = await this.client.call("/sessions", { query: { ...this.filters, limit } });
      if (generation !== this.generation) return;
      this.nextCursor = page.next_cursor;
      this.show(page.sessions, { append: false });
      clearError(this.error);
    } catch (error) {
      if (generation === this.generation && !error.reported) showError(this.error, error);
    }
    this.showFooter();
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const generation = this.generation;
    try {
      const page = await this.client.call("/sessions", {
        query: { ...this.filters, limit: PAGE_SIZE, cursor: this.nextCursor },
      });
      if (generation !== this.generation) return;
      this.nextCursor = page.next_cursor;
      this.show(page.sessions, { append: true });
      clearError(this.error);
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
    this.showFooter();
  }

  select(sessionId) {
    this.selectedId = sessionId;
    for (const [id, row] of this.rows) markSelected(row, id === sessionId);
  }

  reset() {
    this.generation += 1;
    this.clearRows();
    this.known.clear();
    this.selectedId = null;
    clearError(this.error);
    this.showFooter();
  }

  clearRows() {
    this.rows.clear();
    this.nextCursor = null;
    replaceChildren(this.body);
    setText($("#sessions-count"), "");
  }

  show(sessions, { append }) {
    const order = append ? [...this.rows.keys()] : [];
    for (const session of sessions) {
      this.known.set(session.session_id, session);
      if (!order.includes(session.session_id)) order.push(session.session_id);
      const row = this.rows.get(session.session_id) || this.makeRow(session.session_id);
      this.rows.set(session.session_id, row);
      fillRow(row, session);
      markSelected(row, session.session_id === this.selectedId);
    }
    for (const id of [...this.rows.keys()]) if (!order.includes(id)) this.rows.delete(id);
    this.placeRows(order);
    const shown = this.rows.size;
    setText($("#sessions-count"), `${shown} shown${this.nextCursor ? ", more below" : ""}`);
  }

  /** Moves rows only when the order changed; a moved focused button gets its focus back. */
  placeRows(order) {
    const current = Array.from(this.body.children).map((tr) => tr.dataset.sessionId);
    if (current.length === order.length && current.every((id, index) => id === order[index])) {
      return;
    }
    const focused = document.activeElement;
    replaceChildren(this.body, order.map((id) => this.rows.get(id).tr));
    if (focused && this.body.contains(focused)) focused.focus({ preventScroll: true });
  }

  makeRow(sessionId) {
    const button = h("button", {
      type: "button",
      class: "row-link",
      onclick: () => this.onSelect(sessionId),
    });
    const cells = {
      title: h("th", { scope: "row" }, button),
      id: h(
        "td",
        {},
        h(
          "code",
          { title: sessionId },
          h("span", { "aria-hidden": "true" }, shortId(sessionId)),
          h("span", { class: "visually-hidden" }, sessionId),
        ),
      ),
      project: h("td", { class: "project" }),
      status: h("td"),
      clients: h("td", { class: "number clients" }),
      activity: h("td"),
      created: h("td"),
      pinned: h("td"),
    };
    const tr = h("tr", { dataset: { sessionId } }, Object.values(cells));
    return { tr, button, cells };
  }

  showFooter() {
    this.more.hidden = !this.nextCursor;
    $("#sessions-empty").hidden = this.rows.size > 0 || !this.error.hidden;
  }
}

function fillRow(row, session) {
  const { button, cells } = row;
  setText(button, titleOf(session));
  button.classList.toggle("untitled", !session.title);
  setText(cells.project, session.project_id);
  replaceChildren(cells.status, statusBadge(session));
  setText(cells.clients, count(session.active_clients));
  replaceChildren(cells.activity, agoElement(session.last_activity));
  replaceChildren(
    cells.created,
    h(
      "time",
      { datetime: session.created_at, title: fullTime(session.created_at) },
      localTime(session.created_at),
    ),
  );
  replaceChildren(
    cells.pinned,
    session.pinned
      ? h("span", { class: "badge info" }, "Pinned")
      : h("span", { class: "muted" }, "No"),
  );
}

export function statusBadge(session) {
  if (session.is_active) return h("span", { class: "badge ok" }, "Active");
  return h(
    "span",
    { class: "badge muted-badge", title: session.end_reason || "" },
    "Ended",
    session.end_reason ? h("span", { class: "reason" }, ` · ${session.end_reason}`) : null,
  );
}

function markSelected(row, selected) {
  row.tr.classList.toggle("selected", selected);
  if (selected) row.button.setAttribute("aria-current", "true");
  else row.button.removeAttribute("aria-current");
}
