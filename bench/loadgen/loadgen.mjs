// Socket.IO load generator for bench.socket_matrix: many official socket.io-client clients in
// ONE Node process, so every latency is measured on one performance.now() clock and the
// generator can be pinned to one core, away from the server under test.
//
// Why a long-lived process driven over stdin: connecting and joining 2000 clients is the slow
// part of a cell, so the clients connect once and then run several rate steps. Each stdin line
// is one JSON command; each answer is one JSON line on stdout; logs go to stderr.
//
//   {"cmd":"setup","url":"http://127.0.0.1:5000","clients":2000,"room_size":10}
//       optional "service_token": create sessions with it and join with a join token minted
//       per room (SessionHub in AUTH_MODE=token); without it, sessions are created and joined
//       with no credential (the baseline server, or AUTH_MODE=open)
//   {"cmd":"run","rate":2.5,"seconds":10}      rate = operations/s per room sender
//   {"cmd":"drain"}                            every client disconnects at once
//   {"cmd":"quit"}
//
// Usage: node loadgen.mjs  (or pass one command as argv[2] to run it and exit)

import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const CONNECT_CONCURRENCY = 50; // the server's listen backlog is 50
const ACK_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 20_000;
const GRACE_MS = 3_000;

const state = { url: null, rooms: [], clients: [], run: null, runId: 0 };

function log(...parts) {
  process.stderr.write(`[loadgen] ${parts.join(" ")}\n`);
}

function percentile(sorted, pct) {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil((pct / 100) * sorted.length));
  return round(sorted[rank - 1]);
}

function round(value) {
  return value === null ? null : Math.round(value * 100) / 100;
}

function latencySummary(samples) {
  const sorted = Float64Array.from(samples).sort();
  return {
    n: sorted.length,
    p50_ms: percentile(sorted, 50),
    p95_ms: percentile(sorted, 95),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted.length ? round(sorted[sorted.length - 1]) : null,
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The generator's own load, so a run can show it was not the bottleneck.
// The histogram records whole timer intervals, so the sampling resolution is taken off.
const LOOP_RESOLUTION_MS = 10;

function selfProbe() {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  histogram.enable();
  const cpu = process.cpuUsage();
  const wall = performance.now();
  return () => {
    histogram.disable();
    const used = process.cpuUsage(cpu);
    const elapsed = performance.now() - wall;
    return {
      cpu_pct: round((100 * (used.user + used.system)) / 1000 / elapsed),
      loop_delay_p99_ms: round(Math.max(0, histogram.percentile(99) / 1e6 - LOOP_RESOLUTION_MS)),
      loop_delay_max_ms: round(Math.max(0, histogram.max / 1e6 - LOOP_RESOLUTION_MS)),
    };
  };
}

async function postJson(url, path, body, serviceToken) {
  const headers = { "Content-Type": "application/json" };
  if (serviceToken) headers.Authorization = `Bearer ${serviceToken}`;
  const response = await fetch(`${url}${path}`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 201) throw new Error(`POST ${path} answered ${response.status}`);
  return response.json();
}

// A session, and with a service token the join token every member of its room shows.
async function createRoom(url, serviceToken) {
  const { session_id: sessionId } = await postJson(
    url, "/api/v1/sessions", { project_id: "bench" }, serviceToken,
  );
  if (!serviceToken) return { sessionId, token: null, members: [], sender: null };
  const { token } = await postJson(
    url, `/api/v1/sessions/${sessionId}/tokens`, { name: "bench", ttl_seconds: 86400 },
    serviceToken,
  );
  return { sessionId, token, members: [], sender: null };
}

function emitWithAck(socket, event, payload) {
  return new Promise((resolve) => {
    socket.timeout(ACK_TIMEOUT_MS).emit(event, payload, (error, ack) => {
      if (error) resolve({ ok: false, error: { code: "timeout", message: String(error) } });
      else resolve(ack ?? { ok: false, error: { code: "empty_ack" } });
    });
  });
}

function onOperation(client, payload) {
  const run = state.run;
  const props = payload?.op?.props;
  if (run === null || props === undefined || props.run !== run.id) return;
  run.latencies.push(performance.now() - props.t);
  run.received += 1;
}

// Connects one client and joins its room; resolves with the connect+join time or an error.
function connectAndJoin(index, room) {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = io(state.url, {
      transports: ["websocket"],
      reconnection: false,
      forceNew: true, // one Engine.IO connection per client, as real browsers have
      timeout: CONNECT_TIMEOUT_MS,
      auth: { name: `c${index}` },
    });
    const client = { socket, room, index };
    socket.on("operation", (payload) => onOperation(client, payload));
    socket.once("connect_error", (error) => {
      socket.close();
      resolve({ client: null, error: `connect_error: ${error.message}` });
    });
    socket.once("connect", async () => {
      const payload = { session_id: room.sessionId };
      if (room.token) payload.token = room.token;
      const ack = await emitWithAck(socket, "join_session", payload);
      if (!ack.ok) {
        resolve({ client, error: `join: ${ack.error?.code}` });
        return;
      }
      resolve({ client, ms: performance.now() - started });
    });
  });
}

async function setup({ url, clients, room_size: roomSize, service_token: serviceToken }) {
  state.url = url;
  const roomCount = Math.ceil(clients / roomSize);
  const probe = selfProbe();
  state.rooms = [];
  for (let start = 0; start < roomCount; start += 20) {
    const batch = Math.min(20, roomCount - start);
    const rooms = Array.from({ length: batch }, () => createRoom(url, serviceToken));
    state.rooms.push(...(await Promise.all(rooms)));
  }
  const latencies = [];
  const errors = {};
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < clients) {
      const index = next++;
      const room = state.rooms[Math.floor(index / roomSize)];
      const result = await connectAndJoin(index, room);
      if (result.client) state.clients.push(result.client);
      if (result.error) errors[result.error] = (errors[result.error] ?? 0) + 1;
      else {
        room.members.push(result.client);
        latencies.push(result.ms);
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECT_CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const addErrors = await addNodes();
  return {
    clients: clients,
    rooms: roomCount,
    room_size: roomSize,
    joined: latencies.length,
    join_errors: errors,
    add_node_errors: addErrors,
    elapsed_s: round(elapsed),
    joins_per_s: round(latencies.length / elapsed),
    connect_join_ms: latencySummary(latencies),
    loadgen: probe(),
  };
}

// One sender per room adds the node every later run updates.
async function addNodes() {
  const errors = {};
  await Promise.all(
    state.rooms.map(async (room) => {
      room.sender = room.members[0] ?? null;
      if (room.sender === null) return;
      const op = { type: "add_node", node_id: "n", props: {} };
      const ack = await emitWithAck(room.sender.socket, "operation", {
        session_id: room.sessionId,
        op,
      });
      if (!ack.ok) errors[ack.error?.code] = (errors[ack.error?.code] ?? 0) + 1;
    }),
  );
  return errors;
}

// Operations k = 0, 1, 2... are due at k / (rate x rooms) seconds, round-robin over the rooms'
// senders: each sender sends at `rate` with the phases spread evenly, and every due time is
// computed from the start, so late timers are caught up rather than drifting.
async function run({ rate, seconds, grace_ms: graceMs = GRACE_MS }) {
  const senders = state.rooms.filter((room) => room.sender !== null);
  const run = {
    id: ++state.runId,
    latencies: [],
    received: 0,
    expected: 0,
    sent: 0,
    acksOk: 0,
    ackErrors: {},
    ackLatencies: [],
    pendingAcks: 0,
    lateness: [],
  };
  state.run = run;
  const probe = selfProbe();
  const totalRate = rate * senders.length;
  const durationMs = seconds * 1000;
  const started = performance.now();
  let next = 0;
  await new Promise((resolve) => {
    function tick() {
      const now = performance.now();
      const elapsed = now - started;
      const due = Math.min(Math.floor((elapsed / 1000) * totalRate) + 1, Math.ceil(seconds * totalRate));
      for (; next < due; next++) {
        sendUpdate(run, senders[next % senders.length], next);
        run.lateness.push(now - (started + (next / totalRate) * 1000));
      }
      if (elapsed >= durationMs) return resolve();
      const wait = started + (next / totalRate) * 1000 - performance.now();
      setTimeout(tick, Math.max(0, Math.min(wait, durationMs - elapsed)));
    }
    tick();
  });
  const sendEnded = performance.now();
  const graceEnd = sendEnded + graceMs;
  while ((run.received < run.expected || run.pendingAcks > 0) && performance.now() < graceEnd) {
    await sleep(10);
  }
  const self = probe();
  state.run = null;
  const ackErrors = Object.values(run.ackErrors).reduce((sum, count) => sum + count, 0);
  return {
    rate_per_sender: rate,
    senders: senders.length,
    seconds,
    ops_sent: run.sent,
    acks_ok: run.acksOk,
    acks_error: ackErrors,
    ack_errors: run.ackErrors,
    acks_missing: run.pendingAcks,
    ack_ms: latencySummary(run.ackLatencies),
    deliveries_expected: run.expected,
    deliveries_received: run.received,
    lost: run.expected - run.received,
    delivery_ms: latencySummary(run.latencies),
    offered_deliveries_per_s: round(run.expected / seconds),
    achieved_deliveries_per_s: round(run.received / seconds),
    send_lateness_ms: latencySummary(run.lateness),
    loadgen: self,
  };
}

function sendUpdate(run, room, seq) {
  const sentAt = performance.now();
  const op = { type: "update_node", node_id: "n", props: { t: sentAt, seq, run: run.id } };
  run.sent += 1;
  run.expected += room.members.length - 1;
  run.pendingAcks += 1;
  room.sender.socket
    .timeout(ACK_TIMEOUT_MS)
    .emit("operation", { session_id: room.sessionId, op }, (error, ack) => {
      if (state.run !== run) return; // answered after its run was reported
      run.pendingAcks -= 1;
      if (error || !ack?.ok) {
        const code = error ? "timeout" : (ack?.error?.code ?? "empty_ack");
        run.ackErrors[code] = (run.ackErrors[code] ?? 0) + 1;
        return;
      }
      run.acksOk += 1;
      run.ackLatencies.push(performance.now() - sentAt);
    });
}

async function drain() {
  const started = performance.now();
  const closed = state.clients.map(
    (client) =>
      new Promise((resolve) => {
        if (!client.socket.connected) return resolve();
        client.socket.once("disconnect", () => resolve());
      }),
  );
  for (const client of state.clients) client.socket.disconnect();
  const loopMs = performance.now() - started;
  await Promise.race([Promise.all(closed), sleep(10_000)]);
  const count = state.clients.length;
  state.clients = [];
  state.rooms = [];
  return { clients: count, disconnect_loop_ms: round(loopMs), all_closed_ms: round(performance.now() - started) };
}

const COMMANDS = { setup, run, drain };

async function execute(line) {
  const command = JSON.parse(line);
  if (command.cmd === "quit") process.exit(0);
  const action = COMMANDS[command.cmd];
  if (action === undefined) throw new Error(`unknown command ${command.cmd}`);
  return { cmd: command.cmd, ok: true, ...(await action(command)) };
}

async function answer(line) {
  try {
    process.stdout.write(`${JSON.stringify(await execute(line))}\n`);
  } catch (error) {
    log("error:", error.stack ?? error);
    process.stdout.write(`${JSON.stringify({ ok: false, error: String(error) })}\n`);
  }
}

if (process.argv[2]) {
  await answer(process.argv[2]);
  process.exit(0);
}
// One command at a time, in order: the harness waits for each answer before the next.
let queue = Promise.resolve();
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim()) queue = queue.then(() => answer(line));
});
lines.on("close", () => queue.then(() => process.exit(0)));
