// Who is here: the avatars list (`aria-label="People here"`) and the live count. The join ack
// gives the full list; `presence` events are diffs applied by client_id.

import { announce, h, replaceChildren } from "../dom.js";
import { colorFor, initials } from "./people.js";

export class Presence {
  constructor({ list, count }) {
    this.list = list;
    this.count = count;
    this.members = new Map(); // client_id -> client
    this.selfId = null;
    this.listeners = [];
  }

  /** Calls `listener()` after every change (cursors relabel themselves from it). */
  onChange(listener) {
    this.listeners.push(listener);
  }

  /** The full list from a join ack, and which of them is this page (the ack's `client`). */
  reset(clients, self) {
    this.members = new Map(clients.map((client) => [client.client_id, client]));
    this.selfId = self.client_id;
    this.render();
  }

  /** A `presence` diff: a joined client may already be listed (several processes). */
  apply({ joined = [], left = [] }) {
    for (const client of joined) {
      const known = this.members.has(client.client_id);
      this.members.set(client.client_id, client);
      if (!known && client.client_id !== this.selfId) announce(`${client.name} joined`);
    }
    for (const client of left) {
      if (this.members.delete(client.client_id) && client.client_id !== this.selfId) {
        announce(`${client.name} left`);
      }
    }
    this.render();
  }

  clear() {
    this.members.clear();
    this.render();
  }

  get self() {
    return this.members.get(this.selfId) || null;
  }

  nameOf(clientId) {
    const member = this.members.get(clientId);
    return member ? member.name : "Someone";
  }

  render() {
    const members = Array.from(this.members.values()).sort((a, b) => {
      if (a.client_id === this.selfId) return -1;
      if (b.client_id === this.selfId) return 1;
      return String(a.joined_at).localeCompare(String(b.joined_at));
    });
    replaceChildren(this.list, members.map((member) => this.item(member)));
    const n = members.length;
    this.count.textContent = `${n} here`;
    this.count.title = `${n} ${n === 1 ? "person" : "people"} in this session`;
    for (const listener of this.listeners) listener();
  }

  item(member) {
    const isSelf = member.client_id === this.selfId;
    const viewer = member.role === "viewer";
    const label = `${member.name}${isSelf ? " (you)" : ""}${viewer ? ", viewer" : ""}`;
    const avatar = h("span", { class: "avatar", "aria-hidden": "true" }, initials(member.name));
    avatar.style.setProperty("--member-color", colorFor(member.client_id));
    const props = { class: `member${isSelf ? " is-self" : ""}`, title: label };
    return h(
      "li",
      { ...props, dataset: { clientId: member.client_id } },
      avatar,
      h("span", { class: "member-name" }, member.name),
      isSelf ? h("span", { class: "member-you" }, "(you)") : null,
      viewer ? h("span", { class: "visually-hidden" }, ", viewer") : null,
    );
  }
}
