// The admin dashboard: sign-in, then every panel refreshed together every 3 seconds (paused
// while the tab is hidden). Each panel is its own module; this one only wires them up.

import { $, announce } from "../dom.js";
import { checkToken, forgetToken, keepToken, refusalMessage, storedToken } from "./auth.js";
import { SessionActions } from "./actions.js";
import { ActivityChart } from "./chart.js";
import { Cleanup } from "./cleanup.js";
import { AdminClient } from "./client.js";
import { SessionDetail } from "./detail.js";
import { localTime } from "./format.js";
import { InviteForm } from "./invite.js";
import { resetMetrics, showHealth, showMetrics } from "./metrics.js";
import { SessionsTable } from "./sessions.js";
import { busy, clearError, setText, showError } from "./ui.js";
import { WebhookDeliveries } from "./webhooks.js";

const REFRESH_MS = 3000;

const client = new AdminClient({ onRefused: tokenRefused, onReachable: showReachable });
const chart = new ActivityChart();
const sessions = new SessionsTable({ client, onSelect: openSession });
const invite = new InviteForm({ client });
const actions = new SessionActions({ client, onChanged: refreshNow });
const detail = new SessionDetail({
  client,
  onShown: (session) => {
    actions.show(session);
    if (session.is_active) invite.open(session.session_id);
  },
});
const cleanup = new Cleanup({ client, titleOf: (id) => sessions.title(id), onChanged: refreshNow });
const webhooks = new WebhookDeliveries({ client });

let timer = null;
let running = false; // a refresh is in flight: ticks never overlap

function signedIn() {
  return client.token !== null;
}

function schedule() {
  window.clearTimeout(timer);
  timer = null;
  if (signedIn() && !document.hidden) timer = window.setTimeout(refresh, REFRESH_MS);
}

async function refresh() {
  if (!signedIn() || running) return;
  running = true;
  try {
    await Promise.all([refreshNumbers(), sessions.refresh(), detail.refresh(), webhooks.refresh()]);
    if (signedIn() && !document.hidden) {
      const now = localTime(new Date().toISOString());
      setText($("#refresh-state"), `Updated ${now} · every ${REFRESH_MS / 1000} s`);
    }
  } finally {
    running = false;
    schedule();
  }
}

/** After an action: everything again at once, so the page shows its effect straight away. */
async function refreshNow() {
  while (running) await new Promise((resolve) => window.setTimeout(resolve, 50));
  await refresh();
}

async function refreshNumbers() {
  const [metrics, health] = await Promise.allSettled([
    client.call("/sessions/metrics"),
    client.call("/health"),
  ]);
  if (metrics.status === "fulfilled") {
    showMetrics(metrics.value);
    const numbers = metrics.value;
    chart.add({ sessions: numbers.active_sessions, clients: numbers.connected_clients });
  }
  if (health.status === "fulfilled") showHealth(health.value);
  else if (health.reason.code !== "signed_out") showHealth(null, health.reason);
}

function openSession(sessionId) {
  sessions.select(sessionId);
  actions.reset();
  detail.open(sessionId);
}

function showReachable(ok, error) {
  const banner = $("#dashboard-error");
  if (ok) clearError(banner);
  else showError(banner, `${error.message} The page tries again every ${REFRESH_MS / 1000} s.`);
}

// --- signing in and out ----------------------------------------------------------------------

function showDashboard() {
  $("#signin").hidden = true;
  $("#dashboard").hidden = false;
  $("#account-bar").hidden = false;
  setText($("#refresh-state"), "Loading…");
  refresh();
}

function showSignin(message) {
  window.clearTimeout(timer);
  timer = null;
  $("#dashboard").hidden = true;
  $("#account-bar").hidden = true;
  $("#signin").hidden = false;
  const error = $("#signin-error");
  if (message) showError(error, message);
  else clearError(error);
  // Nothing of the last sign-in stays in the page.
  sessions.reset();
  detail.close();
  actions.reset();
  invite.close();
  cleanup.reset();
  webhooks.reset();
  chart.reset();
  resetMetrics();
  clearError($("#dashboard-error"));
  $("#admin-token").focus();
}

function signOut(message) {
  forgetToken();
  client.forget();
  showSignin(message);
}

function tokenRefused(error) {
  signOut(
    `The server no longer accepts the admin token (${error.status} ${error.code}): ` +
      "sign in again.",
  );
  announce("Signed out: the admin token was refused");
}

async function signIn(event) {
  event.preventDefault();
  const field = $("#admin-token");
  const token = field.value.trim();
  const error = $("#signin-error");
  if (!token) {
    showError(error, "Type the admin token first.");
    field.focus();
    return;
  }
  try {
    await checkToken(token);
  } catch (refusal) {
    showError(error, refusalMessage(refusal));
    field.focus();
    field.select();
    return;
  }
  field.value = "";
  clearError(error);
  keepToken(token);
  client.use(token);
  showDashboard();
  announce("Signed in");
  $("#main").focus();
}

$("#signin-form").addEventListener("submit", (event) =>
  busy($("#signin-button"), () => signIn(event)),
);
$("#sign-out").addEventListener("click", () => {
  signOut();
  announce("Signed out");
});
document.addEventListener("visibilitychange", () => {
  if (!signedIn()) return;
  if (document.hidden) {
    window.clearTimeout(timer);
    timer = null;
    setText($("#refresh-state"), "Paused while this tab is hidden");
  } else {
    refresh();
  }
});

const kept = storedToken();
if (kept) {
  client.use(kept);
  showDashboard();
} else {
  showSignin();
}
