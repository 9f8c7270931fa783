// Two browser-style clients join one session through the official socket.io-client and
// report what they saw as one JSON line. Usage: node presence.mjs SERVER_URL SESSION_ID
import { io } from "socket.io-client";
import { TIMEOUT_MS, waitFor } from "./wait.mjs";

const [url, sessionId] = process.argv.slice(2);

function connect(name, transports) {
  const socket = io(url, { auth: { name }, transports, reconnection: false, timeout: TIMEOUT_MS });
  const presence = [];
  socket.on("presence", (diff) => presence.push(diff));
  return new Promise((resolve, reject) => {
    socket.on("connect", () => resolve({ socket, presence }));
    socket.on("connect_error", reject);
  });
}

async function main() {
  const ada = await connect("Ada", ["websocket"]);
  const bob = await connect("Bob", ["polling", "websocket"]);
  const adaJoin = await ada.socket.timeout(TIMEOUT_MS).emitWithAck("join_session", { session_id: sessionId });
  const bobJoin = await bob.socket.timeout(TIMEOUT_MS).emitWithAck("join_session", { session_id: sessionId });
  await waitFor(() => ada.presence.length >= 1, "presence");
  const bobLeave = await bob.socket.timeout(TIMEOUT_MS).emitWithAck("leave_session", { session_id: sessionId });
  await waitFor(() => ada.presence.length >= 2, "presence");
  let refusal = null;
  try {
    await connect("x".repeat(65), ["websocket"]);
  } catch (error) {
    refusal = { message: error.message, data: error.data };
  }
  ada.socket.disconnect();
  bob.socket.disconnect();
  console.log(JSON.stringify({ adaJoin, bobJoin, bobLeave, adaPresence: ada.presence, refusal }));
}

main().catch((error) => {
  console.error(error.stack || String(error));
  process.exit(1);
});
