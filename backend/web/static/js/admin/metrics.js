// The numbers: the tiles, the server's health and the sweeper's last run, from
// GET /sessions/metrics and GET /health (both public, the same from every worker).

import { $, h } from "../dom.js";
import { agoElement, count, duration, fullTime, localTime, relative } from "./format.js";
import { fillFacts, setText } from "./ui.js";

/** Fills the tiles and the sweeper facts from one GET /sessions/metrics answer. */
export function showMetrics(metrics) {
  setText($("#metric-active-sessions"), count(metrics.active_sessions));
  setText($("#metric-connected-clients"), count(metrics.connected_clients));
  setText($("#metric-total-created"), count(metrics.total_created));
  setText($("#metric-total-cleaned"), count(metrics.total_cleaned));
  setText($("#metric-oldest-age"), ageOrDash(metrics.oldest_session_age_seconds));
  setText(
    $("#metric-ages"),
    metrics.active_sessions
      ? `newest ${ageOrDash(metrics.newest_session_age_seconds)}, ` +
          `average ${ageOrDash(metrics.avg_session_age_seconds)}`
      : "no active session",
  );
  const webhooks = metrics.webhooks || { pending: 0, failed: 0, delivered: 0 };
  setText($("#metric-webhooks-pending"), count(webhooks.pending));
  setText(
    $("#metric-webhooks-note"),
    `${count(webhooks.failed)} failed, ${count(webhooks.delivered)} delivered` +
      (webhooks.oldest_pending_age_seconds
        ? `; oldest ${duration(webhooks.oldest_pending_age_seconds)}`
        : ""),
  );
  showSweeper(metrics.sweeper);
}

function ageOrDash(seconds) {
  return seconds === null || seconds === undefined ? "–" : duration(seconds);
}

function showSweeper(sweeper) {
  fillFacts($("#sweeper-facts"), [
    ["Last run", sweeper.last_run_at ? agoElement(sweeper.last_run_at) : "not yet"],
    [
      "Next run",
      sweeper.next_run_at
        ? h(
            "time",
            { datetime: sweeper.next_run_at, title: fullTime(sweeper.next_run_at) },
            `${localTime(sweeper.next_run_at)} (${relative(sweeper.next_run_at)})`,
          )
        : "not scheduled here",
    ],
    [
      "Last duration",
      sweeper.last_duration_ms === null ? "–" : `${sweeper.last_duration_ms.toFixed(1)} ms`,
    ],
    ["Last ended", count(sweeper.last_ended)],
    ["Runs", count(sweeper.runs)],
  ]);
  const error = $("#sweeper-error");
  error.hidden = !sweeper.last_error;
  setText(error, sweeper.last_error ? `Last sweep error: ${sweeper.last_error}` : "");
}

/** `health` is GET /health's body, or null with `error` when it answered 503 or nothing. */
export function showHealth(health, error) {
  const badge = $("#health-badge");
  if (!health) {
    badge.className = "badge danger";
    setText(badge, "Unavailable");
    fillFacts($("#health-facts"), [
      [
        "Status",
        error && error.status === 503 ? "503: the database or the scheduler is down" : "no answer",
      ],
    ]);
    return;
  }
  const ok = health.status === "ok";
  badge.className = `badge ${ok ? "ok" : "danger"}`;
  setText(badge, ok ? "Healthy" : health.status);
  fillFacts($("#health-facts"), [
    ["Database", health.database],
    ["Scheduler", health.scheduler],
    ["Sweep", health.sweep === "on" ? "on" : "off (SESSION_CLEANUP_INTERVAL=0)"],
    ["Instance", h("span", { title: health.instance_id }, health.instance_name)],
    ["Version", document.body.dataset.version || "–"],
    ["Auth mode", document.body.dataset.authMode || "–"],
  ]);
}

export function resetMetrics() {
  for (const element of document.querySelectorAll(".tile-value")) element.textContent = "–";
  for (const element of document.querySelectorAll(".tile-note")) element.textContent = "";
}
