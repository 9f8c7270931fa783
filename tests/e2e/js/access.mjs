// Browser-style clients join sessions with join tokens through the official socket.io-client,
// try to write, and report what they were answered and what they heard as one JSON line.
// Usage: node access.mjs SERVER_URL PLAN_JSON
//   PLAN_JSON: [{"label": "ada", "session_id": "...", "token": "...", "name": "...",
//                "actions": ["operation", "undo", "redo"]}, ...]; token, name and actions
//   are optional (a missing token or name is left out of join_session).
// The clients connect and join one by one, in plan order; then each sends its actions in order
// (`operation` adds the node "<label>-node"). Before reporting, every joined client waits for
// what it is owed: an `operation` for each write the others in its session had accepted, and
// (unless it joined its session last) the presence that counts everyone who joined it.
import { io } from "socket.io-client";
import { TIMEOUT_MS, waitFor } from "./wait.mjs";

const [url, planJson] = process.argv.slice(2);

function connect() {
  const socket = io(url, { transports: ["websocket"], reconnection: false, timeout: TIMEOUT_MS });
  const heard = { presence: [], operation: [] };
  socket.on("presence", (diff) => heard.presence.push(diff));
  socket.on("operation", (change) => heard.operation.push(change));
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve({ socket, heard }));
    socket.on("connect_error", reject);
  });
}

function call(socket, event, payload) {
  return socket.timeout(TIMEOUT_MS).emitWithAck(event, payload);
}

function payloadFor(client, action) {
  const sessionId = client.session_id;
  if (action === "operation") {
    const op = { type: "add_node", node_id: `${client.label}-node`, props: { by: client.label } };
    return { session_id: sessionId, op };
  }
  return { session_id: sessionId };
}

async function main() {
  const plan = JSON.parse(planJson);
  const clients = [];
  for (const client of plan) {
    const { socket, heard } = await connect();
    const join = { session_id: client.session_id };
    if (client.token !== undefined) join.token = client.token;
    if (client.name !== undefined) join.name = client.name;
    const ack = await call(socket, "join_session", join);
    clients.push({ ...client, socket, heard, join: ack, acks: {} });
  }
  for (const client of clients) {
    for (const action of client.actions ?? []) {
      client.acks[action] = await call(client.socket, action, payloadFor(client, action));
    }
  }
  const joined = clients.filter((client) => client.join.ok);
  for (const [index, client] of joined.entries()) {
    const peers = joined.filter((other) => other.session_id === client.session_id);
    const writes = peers
      .filter((other) => other !== client)
      .flatMap((other) => Object.values(other.acks))
      .filter((ack) => ack.ok).length;
    const lastToJoin = !joined.slice(index + 1).some((o) => o.session_id === client.session_id);
    const heardAll = () =>
      client.heard.operation.length >= writes &&
      (lastToJoin || client.heard.presence.at(-1)?.active_clients === peers.length);
    await waitFor(heardAll, `what ${client.label} should hear`);
  }
  const report = {};
  for (const client of clients) {
    report[client.label] = { join: client.join, acks: client.acks, ...client.heard };
    client.socket.disconnect();
  }
  console.log(JSON.stringify(report));
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
