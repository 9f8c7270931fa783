// What every panel does with messages: errors in their role=alert element, facts in a <dl>.

import { h, replaceChildren } from "../dom.js";

/** A sentence for an ApiError (or any error), with the server's code when it sent one. */
export function describe(error) {
  if (!error) return "";
  if (error.code === "network_error") return "The server did not answer. Is it running?";
  const fields = error.details && error.details.fields;
  const extra = fields
    ? ` (${Object.entries(fields)
        .map(([name, problems]) => `${name}: ${[].concat(problems).join(" ")}`)
        .join("; ")})`
    : "";
  const code = error.code ? ` [${error.status ? `${error.status} ` : ""}${error.code}]` : "";
  return `${error.message}${extra}${code}`;
}

/** Shows `error` (an Error or a sentence) in `element`, a role=alert banner. */
export function showError(element, error) {
  element.textContent = typeof error === "string" ? error : describe(error);
  element.hidden = false;
}

export function clearError(element) {
  element.hidden = true;
  element.textContent = "";
}

/**
 * Fills a <dl> with [term, value] pairs; a value may be text or a node. Rebuilt each time,
 * which is cheap, and nothing in it holds focus.
 */
export function fillFacts(list, pairs) {
  replaceChildren(
    list,
    pairs
      .filter((pair) => pair)
      .map(([term, value]) => h("div", { class: "fact" }, h("dt", {}, term), h("dd", {}, value))),
  );
}

/** Sets `element`'s text only when it changed, so live regions and hover titles stay calm. */
export function setText(element, text) {
  const value = String(text);
  if (element.textContent !== value) element.textContent = value;
}

/** Runs `action` with `button` disabled, so a double click sends one request. */
export async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } finally {
    button.disabled = false;
  }
}
