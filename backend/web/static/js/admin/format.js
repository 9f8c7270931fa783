// How the dashboard writes ids, times, durations and sizes: one place, so every panel agrees.

import { ago, h } from "../dom.js";

/** The first 8 characters of a UUID: enough to tell sessions apart at a glance. */
export function shortId(id) {
  return String(id || "").slice(0, 8);
}

const TIME = new Intl.DateTimeFormat(undefined, {
  hour: "numeric",
  minute: "2-digit",
  second: "2-digit",
});
const DATE_TIME = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "numeric",
  minute: "2-digit",
});
const FULL = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** "13:05:12" today, "Dec 2, 13:05" another day; "" without a time. */
export function localTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date().toDateString() === date.toDateString();
  return today ? TIME.format(date) : DATE_TIME.format(date);
}

export function fullTime(iso) {
  return iso ? FULL.format(new Date(iso)) : "";
}

/** "in 4 min" for a time ahead, "2 min ago" for one past (the sweeper's next run may be late). */
export function relative(iso, now = Date.now()) {
  if (!iso) return "never";
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  if (seconds <= 0) return ago(iso, now);
  return `in ${duration(seconds)}`;
}

/** 42 -> "42 s", 150 -> "2 min 30 s", 7260 -> "2 h 1 min", 200000 -> "2 d 7 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–";
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total} s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return total % 60 ? `${minutes} min ${total % 60} s` : `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

/** 512 -> "512 B", 2048 -> "2.0 KiB". */
export function bytes(count) {
  if (count < 1024) return `${count} B`;
  if (count < 1024 * 1024) return `${(count / 1024).toFixed(1)} KiB`;
  return `${(count / (1024 * 1024)).toFixed(1)} MiB`;
}

export function count(value) {
  return value === null || value === undefined ? "–" : Number(value).toLocaleString();
}

/** A <time> showing "5 min ago", with the exact moment on hover and for assistive tech. */
export function agoElement(iso) {
  if (!iso) return h("span", { class: "muted" }, "never");
  return h("time", { datetime: iso, title: fullTime(iso) }, ago(iso));
}

/** A session's title, or a muted stand-in for an untitled one. */
export function titleOf(session) {
  return session && session.title ? session.title : "Untitled session";
}
