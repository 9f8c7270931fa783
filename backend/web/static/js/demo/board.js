// The cards: drawn from the document (plus this page's drag in progress and other people's
// drag previews), and what a person does to them: drag, edit, delete, move with the keys.
// A drag streams its position as ephemeral state and ends with ONE update_node, so one undo
// reverts one move.

import { announce, h } from "../dom.js";
import { colorFor } from "./people.js";

export const BOARD_WIDTH = 2400;
export const BOARD_HEIGHT = 1600;
const CARD_WIDTH = 200; // keep in step with .card in demo.css
const CARD_HEIGHT = 112;
const DRAG_THRESHOLD = 4; // px before a press becomes a drag (a click only focuses)
const KEY_STEP = 10;
export const CARD_COLORS = ["yellow", "blue", "green", "pink", "purple"];
const TEXT_MAX = 500;

export class Board {
  /**
   * `surface`: the #board element; `actions`: update(nodeId, props) and remove(nodeId), each
   * resolving with the server's ack; `stream`: the StateStream for cursor and drag preview.
   */
  constructor({ surface, doc, presence, stream, actions }) {
    this.surface = surface;
    this.doc = doc;
    this.presence = presence;
    this.stream = stream;
    this.actions = actions;
    this.editable = false;
    this.streaming = true;
    this.cards = new Map(); // node_id -> element
    this.local = new Map(); // node_id -> {x, y}: this page's move not yet in the document
    this.previews = new Map(); // client_id -> {node_id, x, y}: someone else's drag
    this.moving = new Map(); // node_id -> {again}: a move whose update_node is in flight
    this.reserved = new Set(); // spots of cards being added, so quick adds do not stack
    this.drag = null;
    this.editing = null;
    this.empty = h("p", { class: "board-empty" }, "No cards yet. Add one with “Add card”.");
    surface.append(this.empty);
    surface.addEventListener("pointermove", (event) => this.pointerMove(event));
    surface.addEventListener("pointerup", (event) => this.pointerUp(event, false));
    surface.addEventListener("pointercancel", (event) => this.pointerUp(event, true));
    surface.addEventListener("pointerleave", (event) => {
      if (!this.drag && event.pointerType !== "touch") this.stream.update({ cursor: null });
    });
  }

  /** Editors may change cards; viewers, an ended session or a dropped connection may not. */
  setEditable(editable) {
    this.editable = editable;
    this.surface.classList.toggle("is-read-only", !editable);
    for (const card of this.cards.values()) {
      card.querySelector(".card-delete").disabled = !editable;
    }
    if (!editable) {
      if (this.editing) this.stopEdit(false);
      if (this.drag) this.cancelDrag();
    }
  }

  /** The board coordinates of a pointer event: the surface's own, scrolled or not. */
  point(event) {
    const rect = this.surface.getBoundingClientRect();
    return { x: Math.round(event.clientX - rect.left), y: Math.round(event.clientY - rect.top) };
  }

  // --- drawing ---------------------------------------------------------------------------

  render() {
    const seen = new Set();
    for (const [nodeId, props] of this.doc.nodes) {
      seen.add(nodeId);
      let card = this.cards.get(nodeId);
      if (!card) {
        card = this.createCard(nodeId);
        this.cards.set(nodeId, card);
        this.surface.append(card);
      }
      this.fill(card, nodeId, props);
    }
    for (const [nodeId, card] of this.cards) {
      if (seen.has(nodeId)) continue;
      if (this.editing === nodeId) this.editing = null;
      if (this.drag && this.drag.nodeId === nodeId) {
        this.drag = null; // deleted by someone else mid-drag: the preview ends too
        this.stream.update({ dragging: null });
      }
      const hadFocus = card.contains(document.activeElement);
      card.remove();
      this.cards.delete(nodeId);
      this.local.delete(nodeId);
      if (hadFocus) this.surface.focus({ preventScroll: true });
    }
    this.empty.hidden = this.cards.size > 0;
  }

  fill(card, nodeId, props) {
    const text = typeof props.text === "string" ? props.text : "";
    if (this.editing !== nodeId) card.querySelector(".card-text").textContent = text;
    card.setAttribute("aria-label", `Card: ${text || "(empty)"}`);
    card.querySelector(".card-delete").setAttribute("aria-label", `Delete card: ${text}`);
    card.dataset.color = CARD_COLORS.includes(props.color) ? props.color : "yellow";
    const preview = this.previewOf(nodeId);
    card.classList.toggle("is-remote-dragging", Boolean(preview) && !this.local.has(nodeId));
    if (preview) card.style.setProperty("--drag-color", colorFor(preview.clientId));
    const { x, y } = this.local.get(nodeId) || preview || position(props);
    place(card, x, y);
  }

  refresh(nodeId) {
    const card = this.cards.get(nodeId);
    const props = this.doc.nodes.get(nodeId);
    if (card && props) this.fill(card, nodeId, props);
  }

  previewOf(nodeId) {
    for (const [clientId, preview] of this.previews) {
      if (preview.node_id === nodeId) return { ...preview, clientId };
    }
    return null;
  }

  /** Someone's state changed: show (or stop showing) the card they drag where they drag it. */
  setPreview(clientId, state) {
    if (clientId === this.presence.selfId) return;
    const before = this.previews.get(clientId);
    const dragging = state && state.dragging;
    if (isPreview(dragging)) {
      const { node_id: nodeId, x, y } = dragging;
      this.previews.set(clientId, clamp({ node_id: nodeId, x, y }));
    } else {
      this.previews.delete(clientId);
    }
    if (before) this.refresh(before.node_id);
    if (dragging) this.refresh(dragging.node_id);
  }

  resetPreviews(states) {
    const touched = new Set(Array.from(this.previews.values(), (preview) => preview.node_id));
    this.previews.clear();
    for (const [clientId, state] of Object.entries(states || {})) this.setPreview(clientId, state);
    for (const nodeId of touched) this.refresh(nodeId);
  }

  createCard(nodeId) {
    const card = h(
      "div",
      {
        class: "card",
        tabindex: "0",
        role: "group",
        "aria-roledescription": "card",
        dataset: { nodeId },
        onpointerdown: (event) => this.pointerDown(event, nodeId, card),
        ondblclick: (event) => {
          if (!event.target.closest("button")) this.startEdit(nodeId);
        },
        onkeydown: (event) => this.cardKey(event, nodeId),
      },
      h("p", { class: "card-text" }),
      h(
        "button",
        {
          class: "card-delete",
          type: "button",
          "aria-label": "Delete card",
          title: "Delete card",
          disabled: !this.editable,
          onclick: () => this.remove(nodeId),
        },
        "×",
      ),
    );
    return card;
  }

  // --- dragging ---------------------------------------------------------------------------

  pointerDown(event, nodeId, card) {
    if (event.button !== 0 || event.target.closest("button, textarea")) return;
    card.focus({ preventScroll: true });
    if (!this.editable || this.editing === nodeId) return;
    event.preventDefault(); // no text selection while dragging
    const start = this.point(event);
    const props = this.doc.nodes.get(nodeId) || {};
    const origin = this.local.get(nodeId) || position(props);
    this.drag = { nodeId, pointerId: event.pointerId, start, origin, moved: false };
    card.setPointerCapture(event.pointerId);
  }

  pointerMove(event) {
    if (!this.streaming) return;
    const here = this.point(event);
    const drag = this.drag;
    if (!drag || event.pointerId !== drag.pointerId) {
      this.stream.update({ cursor: here });
      return;
    }
    const dx = here.x - drag.start.x;
    const dy = here.y - drag.start.y;
    if (!drag.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) {
      this.stream.update({ cursor: here });
      return;
    }
    drag.moved = true;
    const spot = clamp({ x: drag.origin.x + dx, y: drag.origin.y + dy });
    this.local.set(drag.nodeId, spot);
    const card = this.cards.get(drag.nodeId);
    if (card) {
      card.classList.add("is-dragging");
      place(card, spot.x, spot.y);
    }
    this.stream.update({ cursor: here, dragging: { node_id: drag.nodeId, x: spot.x, y: spot.y } });
  }

  pointerUp(event, cancelled) {
    const drag = this.drag;
    if (!drag || event.pointerId !== drag.pointerId) return;
    this.drag = null;
    const card = this.cards.get(drag.nodeId);
    if (card) card.classList.remove("is-dragging");
    if (!drag.moved) return;
    if (cancelled || !this.editable) {
      this.cancelDrag(drag.nodeId);
      return;
    }
    this.commitMove(drag.nodeId);
  }

  cancelDrag(nodeId = this.drag && this.drag.nodeId) {
    this.drag = null;
    if (nodeId) {
      this.local.delete(nodeId);
      const card = this.cards.get(nodeId);
      if (card) card.classList.remove("is-dragging");
      this.refresh(nodeId);
    }
    this.stream.update({ dragging: null });
    this.stream.flush();
  }

  /**
   * Sends the card's local position as one update_node; keys pressed (or a drop) while it is
   * in flight fold into one more. The drag preview ends only once the move is in the
   * document, so the others never see the card jump back.
   */
  async commitMove(nodeId) {
    const busy = this.moving.get(nodeId);
    if (busy) {
      busy.again = true;
      return;
    }
    const entry = { again: true };
    this.moving.set(nodeId, entry);
    const card = this.cards.get(nodeId);
    if (card) card.setAttribute("aria-busy", "true"); // being saved
    let ok = true;
    while (entry.again && ok) {
      entry.again = false;
      const spot = this.local.get(nodeId);
      if (!spot) break;
      const ack = await this.actions.update(nodeId, { x: spot.x, y: spot.y });
      ok = ack.ok;
    }
    this.moving.delete(nodeId);
    if (card) card.removeAttribute("aria-busy");
    if (!this.drag || this.drag.nodeId !== nodeId) this.local.delete(nodeId);
    this.refresh(nodeId);
    if (this.stream.state.dragging && this.stream.state.dragging.node_id === nodeId) {
      this.stream.update({ dragging: null });
      this.stream.flush();
    }
  }

  // --- keyboard, editing, deleting ---------------------------------------------------------

  cardKey(event, nodeId) {
    if (event.target !== event.currentTarget || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    const steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (event.key === "Escape" && this.drag && this.drag.nodeId === nodeId) {
      event.preventDefault(); // the card goes back; the others' preview ends
      const { moved } = this.drag;
      this.drag = null;
      if (moved) this.cancelDrag(nodeId);
    } else if (event.key === "Enter" || event.key === "F2") {
      event.preventDefault();
      this.startEdit(nodeId);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      this.remove(nodeId);
    } else if (steps[event.key]) {
      event.preventDefault(); // not scroll the board
      if (!this.editable) return;
      const [dx, dy] = steps[event.key];
      const from = this.local.get(nodeId) || position(this.doc.nodes.get(nodeId) || {});
      const spot = clamp({ x: from.x + dx * KEY_STEP, y: from.y + dy * KEY_STEP });
      this.local.set(nodeId, spot);
      this.refresh(nodeId);
      this.commitMove(nodeId);
    }
  }

  startEdit(nodeId) {
    if (!this.editable || this.editing === nodeId) return;
    if (this.editing) this.stopEdit(true);
    const card = this.cards.get(nodeId);
    const props = this.doc.nodes.get(nodeId);
    if (!card || !props) return;
    this.editing = nodeId;
    const text = card.querySelector(".card-text");
    const field = h("textarea", {
      class: "card-editor",
      "aria-label": "Card text",
      maxlength: String(TEXT_MAX),
      rows: "3",
      onkeydown: (event) => {
        if (event.key === "Enter" && !event.shiftKey) {
          event.preventDefault();
          this.stopEdit(true);
        } else if (event.key === "Escape") {
          event.preventDefault();
          this.stopEdit(false);
        }
      },
      onblur: () => {
        if (this.editing === nodeId) this.stopEdit(true, false);
      },
    });
    field.value = typeof props.text === "string" ? props.text : "";
    text.hidden = true;
    card.classList.add("is-editing");
    card.insertBefore(field, text);
    field.focus();
    field.select();
  }

  /** Ends editing; `save` sends the text (if it changed) as one update_node. */
  stopEdit(save, refocus = true) {
    const nodeId = this.editing;
    if (!nodeId) return;
    this.editing = null;
    const card = this.cards.get(nodeId);
    if (!card) return;
    const field = card.querySelector(".card-editor");
    const value = field ? field.value : "";
    if (field) field.remove();
    card.classList.remove("is-editing");
    card.querySelector(".card-text").hidden = false;
    this.refresh(nodeId);
    if (refocus) card.focus({ preventScroll: true });
    const props = this.doc.nodes.get(nodeId);
    if (save && props && value !== (props.text || "")) {
      card.querySelector(".card-text").textContent = value; // shown at once, confirmed by the ack
      this.actions.update(nodeId, { text: value }).then(() => this.refresh(nodeId));
    }
  }

  async remove(nodeId) {
    if (!this.editable) return;
    const card = this.cards.get(nodeId);
    const ack = await this.actions.remove(nodeId);
    if (ack.ok) announce("Card deleted");
    else if (card && card.isConnected) card.focus({ preventScroll: true });
  }

  /** A free place for a new card in the part of the board in view. */
  freeSpot(viewport) {
    const left = viewport.scrollLeft + 24;
    const top = viewport.scrollTop + 24;
    const columns = Math.max(1, Math.floor((viewport.clientWidth - 24) / (CARD_WIDTH + 24)));
    const rows = Math.max(1, Math.floor((viewport.clientHeight - 24) / (CARD_HEIGHT + 24)));
    const taken = Array.from(this.doc.nodes.keys(), (nodeId) => {
      return this.local.get(nodeId) || position(this.doc.nodes.get(nodeId));
    }).concat(Array.from(this.reserved));
    for (let row = 0; row < rows; row += 1) {
      for (let column = 0; column < columns; column += 1) {
        const spot = { x: left + column * (CARD_WIDTH + 24), y: top + row * (CARD_HEIGHT + 24) };
        const near = (other) =>
          Math.abs(other.x - spot.x) < CARD_WIDTH && Math.abs(other.y - spot.y) < CARD_HEIGHT;
        const overlaps = taken.some(near);
        if (!overlaps) return clamp(spot);
      }
    }
    const shift = (this.doc.nodes.size % 10) * 16;
    return clamp({ x: left + shift, y: top + shift });
  }

  focusCard(nodeId) {
    const card = this.cards.get(nodeId);
    if (card) card.focus({ preventScroll: false });
  }
}

function isPreview(dragging) {
  return Boolean(dragging) && typeof dragging.node_id === "string" &&
    Number.isFinite(dragging.x) && Number.isFinite(dragging.y);
}

function position(props) {
  return clamp({ x: Number(props.x) || 0, y: Number(props.y) || 0 });
}

function clamp(spot) {
  return {
    ...spot,
    x: Math.round(Math.min(Math.max(0, spot.x), BOARD_WIDTH - CARD_WIDTH)),
    y: Math.round(Math.min(Math.max(0, spot.y), BOARD_HEIGHT - CARD_HEIGHT)),
  };
}

function place(card, x, y) {
  card.style.left = `${x}px`;
  card.style.top = `${y}px`;
}
