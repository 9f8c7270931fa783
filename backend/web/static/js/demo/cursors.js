// Other people's cursors: small pointers in their colour with their name, drawn from their
// ephemeral state (`state` events, and the join ack's `states`). Decorative for screen
// readers: presence already says who is here.

import { h } from "../dom.js";
import { colorFor } from "./people.js";

const SVG = "http://www.w3.org/2000/svg";

export class Cursors {
  constructor({ layer, presence }) {
    this.layer = layer;
    this.presence = presence;
    this.cursors = new Map(); // client_id -> element
    presence.onChange(() => this.relabel());
  }

  /** Everyone's state from a join ack (`{client_id: state}`), but this page's own. */
  reset(states) {
    this.clear();
    for (const [clientId, state] of Object.entries(states || {})) this.set(clientId, state);
  }

  /** A member's new state: draws, moves or removes its cursor. */
  set(clientId, state) {
    if (clientId === this.presence.selfId) return;
    const cursor = state && state.cursor;
    if (!cursor || !Number.isFinite(cursor.x) || !Number.isFinite(cursor.y)) {
      this.remove(clientId);
      return;
    }
    let element = this.cursors.get(clientId);
    if (!element) {
      element = this.draw(clientId);
      this.cursors.set(clientId, element);
      this.layer.append(element);
    }
    element.style.transform = `translate(${Math.round(cursor.x)}px, ${Math.round(cursor.y)}px)`;
  }

  remove(clientId) {
    const element = this.cursors.get(clientId);
    if (element) element.remove();
    this.cursors.delete(clientId);
  }

  clear() {
    for (const element of this.cursors.values()) element.remove();
    this.cursors.clear();
  }

  relabel() {
    for (const [clientId, element] of this.cursors) {
      if (clientId === this.presence.selfId) {
        this.remove(clientId);
        continue;
      }
      element.querySelector(".remote-cursor-label").textContent = this.presence.nameOf(clientId);
    }
  }

  draw(clientId) {
    const arrow = document.createElementNS(SVG, "svg");
    arrow.setAttribute("class", "remote-cursor-arrow");
    arrow.setAttribute("viewBox", "0 0 16 22");
    arrow.setAttribute("width", "16");
    arrow.setAttribute("height", "22");
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", "M1 1 L1 17 L5.5 13 L8.5 20.5 L11.5 19.2 L8.6 12 L14.5 12 Z");
    arrow.append(path);
    const element = h(
      "div",
      { class: "remote-cursor", "aria-hidden": "true", dataset: { clientId } },
      arrow,
      h("span", { class: "remote-cursor-label" }, this.presence.nameOf(clientId)),
    );
    element.style.setProperty("--cursor-color", colorFor(clientId));
    return element;
  }
}
