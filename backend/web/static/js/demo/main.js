// The demo board's entry: decides between the start forms and a session, then wires the
// modules together. Each module does one job; this one only connects them.

import { $, announce, copyText } from "../dom.js";
import { Board, CARD_COLORS } from "./board.js";
import { Connection } from "./connection.js";
import { Cursors } from "./cursors.js";
import { BoardDocument } from "./doc.js";
import { AUTH_MODE, readLocation, rememberInLocation, shareLink, tokenClaims } from "./link.js";
import { Notices, errorSentence } from "./notices.js";
import { Presence } from "./presence.js";
import { askForSession } from "./start.js";
import { StateStream } from "./stream.js";
import { SessionSync } from "./sync.js";
import { bindToolbar } from "./toolbar.js";

async function main() {
  let target = readLocation();
  const canJoin = target.sessionId && (target.token || (AUTH_MODE === "open" && target.name));
  if (!canJoin) {
    target = await askForSession({ root: $("#demo-start"), ...target });
    $("#demo-start").hidden = true;
    rememberInLocation(target);
  }
  openBoard(target);
}

function openBoard({ sessionId, name, token }) {
  $("#demo-session").hidden = false;
  const claims = token ? tokenClaims(token) : null;
  const me = {
    name: (claims && typeof claims.name === "string" && claims.name) || name,
    role: claims && claims.role === "viewer" ? "viewer" : "editor",
  };
  let role = me.role;
  $("#session-id").textContent = sessionId;

  const notices = new Notices({
    ended: $("#session-ended"),
    joinError: $("#join-error"),
    status: $("#demo-status"),
  });
  const doc = new BoardDocument();
  const presence = new Presence({ list: $("#presence"), count: $("#presence-count") });
  const viewport = $("#board-viewport");
  const surface = $("#board");
  let sync = null;
  // Open mode only: in token mode everyone needs their own invite (a join token).
  const shareButton = $("#share-button");
  const shareable = AUTH_MODE === "open" && !token;
  const stream = new StateStream((state) => sync.setState(state));
  const cursors = new Cursors({ layer: surface, presence });

  /** Every change goes through here: a refusal becomes a status line, never a rejection. */
  async function write(run) {
    const ack = await run();
    const code = ack.error && ack.error.code;
    if (!ack.ok && code !== "session_ended") notices.say(errorSentence(ack.error, sessionId));
    return ack;
  }
  const board = new Board({
    surface,
    doc,
    presence,
    stream,
    actions: {
      update: (nodeId, props) =>
        write(() => sync.operate({ type: "update_node", node_id: nodeId, props })),
      remove: (nodeId) => write(() => sync.operate({ type: "delete_node", node_id: nodeId })),
    },
  });

  async function addCard() {
    const spot = board.freeSpot(viewport);
    const nodeId = `card-${randomHex(6)}`;
    const color = CARD_COLORS[Math.floor(Math.random() * CARD_COLORS.length)];
    const op = { type: "add_node", node_id: nodeId, props: { text: "New card", ...spot, color } };
    board.reserved.add(spot);
    const ack = await write(() => sync.operate(op));
    board.reserved.delete(spot);
    if (ack.ok) {
      board.render();
      board.focusCard(nodeId);
      announce("Card added. Press Enter to edit its text.");
    }
  }
  let travelling = false;
  async function travel(kind, repeat = false) {
    if (repeat && travelling) return; // a held shortcut: one at a time
    travelling = true;
    try {
      const ack = await write(() => sync.history(kind));
      if (ack.ok) announce(kind === "undo" ? "Undone" : "Redone");
    } finally {
      travelling = false;
    }
  }
  const toolbar = bindToolbar({
    undoButton: $("#undo-button"),
    redoButton: $("#redo-button"),
    addButton: $("#add-button"),
    onUndo: (repeat) => travel("undo", repeat),
    onRedo: (repeat) => travel("redo", repeat),
    onAdd: () => addCard(),
  });

  function updateControls() {
    const editable = Boolean(sync && sync.canWrite) && role === "editor";
    board.setEditable(editable);
    toolbar.setEditable(editable);
    $("#read-only-notice").hidden = role !== "viewer" || Boolean(sync && sync.ended);
  }
  function forgetOthers() {
    cursors.clear();
    board.resetPreviews({});
  }

  const connection = new Connection({
    indicator: $("#connection"),
    name: token ? undefined : me.name,
    onConnect: () => {
      sync.connected();
      updateControls();
    },
    onDisconnect: () => {
      sync.disconnected();
      updateControls();
    },
  });
  sync = new SessionSync({
    connection,
    sessionId,
    name: me.name,
    token,
    doc,
    events: {
      joined(ack, { first }) {
        const title = (ack.session && ack.session.title) || "Untitled board";
        $("#session-title").textContent = title;
        document.title = `${title} · Demo board · SessionHub`;
        presence.reset(ack.clients || [], ack.client);
        role = ack.client.role;
        stream.reset();
        cursors.reset(ack.states);
        board.resetPreviews(ack.states);
        notices.hideJoinError();
        $("#board-viewport").hidden = false;
        $("#board-help").hidden = false;
        shareButton.hidden = !shareable;
        updateControls();
        announce(first ? `Joined ${title}` : "Back online: the board is up to date");
      },
      joinFailed(error) {
        if (sync.everJoined) {
          notices.say(errorSentence(error, sessionId));
        } else {
          $("#session-title").textContent = "Could not join";
          $("#board-viewport").hidden = true; // no empty board to suggest otherwise
          $("#board-help").hidden = true;
          notices.showJoinError(error, sessionId);
        }
        updateControls();
      },
      changed() {
        board.render();
      },
      presence(diff) {
        presence.apply(diff);
        for (const client of diff.left || []) {
          cursors.remove(client.client_id);
          board.setPreview(client.client_id, null);
        }
      },
      state(clientId, state) {
        cursors.set(clientId, state);
        board.setPreview(clientId, state);
      },
      left() {
        forgetOthers();
      },
      ended(reason) {
        stream.stop();
        board.streaming = false;
        forgetOthers();
        presence.clear();
        updateControls();
        connection.close();
        if (!sync.everJoined) {
          $("#board-viewport").hidden = true; // ended before this page saw any of it
          $("#board-help").hidden = true;
        }
        notices.showEnded(reason);
      },
    },
  });

  if (shareable) {
    shareButton.addEventListener("click", async () => {
      const link = shareLink(sessionId);
      if (await copyText(link)) {
        notices.say("Share link copied: anyone who opens it joins this board.");
      } else {
        const field = $("#share-link");
        field.value = link;
        $("#share-fallback").hidden = false;
        field.focus();
        field.select();
        notices.say("Copy the share link from the field below the bar.");
      }
    });
  }
  updateControls();
}

function randomHex(bytes) {
  const values = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(values, (value) => value.toString(16).padStart(2, "0")).join("");
}

main().catch((error) => {
  // Nothing above should throw; if it does, say so on the page rather than in a rejection.
  const status = document.getElementById("demo-status");
  if (status) status.textContent = `The page failed to start: ${error.message}`;
});
