// The admin token: typed in, checked against an admin-only route, kept in this tab's
// sessionStorage only (never localStorage, a cookie or the URL), forgotten on sign-out.

import { api } from "../api.js";

export const STORAGE_KEY = "sessionhub.adminToken";

export function storedToken() {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null; // storage disabled: the token lives only as long as the page
  }
}

export function keepToken(token) {
  try {
    window.sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    // Nothing else may hold it: without sessionStorage a reload asks again.
  }
}

export function forgetToken() {
  try {
    window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing was kept.
  }
}

/**
 * Resolves when `token` is the server's admin token. In AUTH_MODE=open the service routes take
 * any token, so the check uses the one admin-only route that reads and changes nothing: the
 * first webhook delivery. Rejects with the ApiError (401, 403, or no answer).
 */
export async function checkToken(token) {
  await api("/webhooks/deliveries", { token, query: { limit: 1 } });
}

/** What the sign-in form says when the server refused a token. */
export function refusalMessage(error) {
  if (error.status === 401 || error.status === 403) {
    return (
      `The server refused this token (${error.status} ${error.code}): ` +
      "it is not this server's admin token (ADMIN_TOKEN)."
    );
  }
  if (error.code === "network_error") return "The server did not answer. Is it running?";
  return `Could not check the token: ${error.message}`;
}
