// Webhook deliveries (GET /webhooks/deliveries): newest first, a status filter, "Load more",
// and Retry for a pending or failed one. When the server has no WEBHOOK_URLS, say so.

import { $, announce, h, replaceChildren } from "../dom.js";
import { agoElement, count, relative, shortId } from "./format.js";
import { busy, clearError, setText, showError } from "./ui.js";

const PAGE_SIZE = 25;
const MAX_LIMIT = 500;

export class WebhookDeliveries {
  constructor({ client }) {
    this.client = client;
    this.error = $("#webhooks-error");
    this.more = $("#webhooks-more");
    this.deliveries = [];
    this.nextCursor = null;
    this.generation = 0;
    this.retrying = new Set(); // ids whose Retry is in flight: their button stays disabled
    // "on" or "off" when the page says (data-webhooks on <body>); unknown otherwise.
    this.configured = document.body.dataset.webhooks;
    $("#webhook-status-filter").addEventListener("change", () => {
      this.generation += 1;
      this.deliveries = [];
      this.nextCursor = null;
      this.refresh();
    });
    $("#webhooks-filters").addEventListener("submit", (event) => event.preventDefault());
    this.more.addEventListener("click", () => busy(this.more, () => this.loadMore()));
  }

  get status() {
    return $("#webhook-status-filter").value;
  }

  async refresh() {
    const generation = this.generation;
    const limit = Math.min(MAX_LIMIT, Math.max(PAGE_SIZE, this.deliveries.length));
    try {
      const page = await this.client.call("/webhooks/deliveries", {
        query: { status: this.status, limit },
      });
      if (generation !== this.generation) return;
      this.deliveries = page.deliveries;
      this.nextCursor = page.next_cursor;
      clearError(this.error);
      this.render();
    } catch (error) {
      if (generation === this.generation && !error.reported) showError(this.error, error);
    }
  }

  async loadMore() {
    if (!this.nextCursor) return;
    const generation = this.generation;
    try {
      const page = await this.client.call("/webhooks/deliveries", {
        query: { status: this.status, limit: PAGE_SIZE, cursor: this.nextCursor },
      });
      if (generation !== this.generation) return;
      const seen = new Set(this.deliveries.map((delivery) => delivery.id));
      this.deliveries.push(...page.deliveries.filter((delivery) => !seen.has(delivery.id)));
      this.nextCursor = page.next_cursor;
      this.render();
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }

  reset() {
    this.generation += 1;
    this.deliveries = [];
    this.nextCursor = null;
    replaceChildren($("#webhooks-body"));
    clearError(this.error);
    $("#webhooks-off").hidden = true;
  }

  render() {
    const none = this.deliveries.length === 0;
    const off =
      this.configured === "off" || (this.configured === undefined && none && !this.status);
    const notice = $("#webhooks-off");
    notice.hidden = !off;
    setText(
      notice,
      this.configured === "off"
        ? "Webhooks are off on this server (WEBHOOK_URLS is empty): no events are recorded or sent."
        : "No deliveries recorded: webhooks are off unless the server sets WEBHOOK_URLS " +
          "(see the README, “Webhooks”).",
    );
    $("#webhooks-table").hidden = none;
    $("#webhooks-filters").hidden = off && none;
    $("#webhooks-empty").hidden = !none || off;
    this.more.hidden = !this.nextCursor;
    const more = this.nextCursor ? ", more below" : "";
    setText($("#webhooks-count"), none ? "" : `${this.deliveries.length} shown${more}`);
    const focusedId = focusedDelivery();
    replaceChildren($("#webhooks-body"), this.deliveries.map((delivery) => this.row(delivery)));
    if (focusedId) {
      const button = $(`#webhooks-body tr[data-delivery-id="${focusedId}"] button`);
      if (button) button.focus({ preventScroll: true });
    }
  }

  row(delivery) {
    const retryable = delivery.status !== "delivered";
    return h(
      "tr",
      { dataset: { deliveryId: delivery.id } },
      h("td", {}, agoElement(delivery.created_at)),
      h("td", {}, h("code", {}, delivery.type)),
      h(
        "td",
        {},
        delivery.session_id
          ? h("code", { title: delivery.session_id }, shortId(delivery.session_id))
          : "–",
      ),
      h("td", { class: "endpoint", title: delivery.endpoint }, delivery.endpoint),
      h("td", {}, h("span", { class: `badge ${BADGES[delivery.status] || ""}` }, delivery.status)),
      h("td", { class: "number" }, count(delivery.attempts)),
      h("td", { class: "last-answer" }, lastAnswer(delivery)),
      h("td", {}, delivery.next_attempt_at ? relative(delivery.next_attempt_at) : "–"),
      h(
        "td",
        {},
        retryable
          ? h(
              "button",
              {
                type: "button",
                class: "small",
                "aria-label": `Retry ${delivery.type} delivery ${delivery.id}`,
                disabled: this.retrying.has(delivery.id),
                onclick: () => this.retry(delivery.id),
              },
              "Retry",
            )
          : null,
      ),
    );
  }

  async retry(deliveryId) {
    this.retrying.add(deliveryId);
    this.render();
    try {
      const path = `/webhooks/deliveries/${encodeURIComponent(deliveryId)}/retry`;
      await this.client.call(path, { method: "POST" });
      announce("Delivery queued to be sent again now");
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    } finally {
      this.retrying.delete(deliveryId);
    }
    await this.refresh();
  }
}

const BADGES = { delivered: "ok", pending: "warn", failed: "danger" };

/** The receiver's last answer: the error when there was one (it names the status), else the
 * status; the full error on hover, as it may be long. */
function lastAnswer(delivery) {
  if (delivery.last_error) {
    // "HTTP 410: " with an empty body reads better without its colon.
    const error = delivery.last_error.replace(/:\s*$/, "");
    return h("span", { title: delivery.last_error }, error);
  }
  if (delivery.last_status !== null) return `HTTP ${delivery.last_status}`;
  return h("span", { class: "muted" }, "–");
}

function focusedDelivery() {
  const active = document.activeElement;
  if (!active || !$("#webhooks-body").contains(active)) return null;
  return active.closest("tr").dataset.deliveryId;
}
