// What the page's address says (which session, as whom) and the links it hands out. The join
// token lives in the fragment, which browsers never send to a server or in a Referer.

/** The page's settings from `<body data-…>`: the server renders them, no inline script. */
export const AUTH_MODE = document.body.dataset.authMode === "token" ? "token" : "open";

/** `{sessionId, name, token}` from `?session=<id>&name=<name>#token=<join token>`. */
export function readLocation(location = window.location) {
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  return {
    sessionId: (query.get("session") || "").trim(),
    name: (query.get("name") || "").trim(),
    token: (fragment.get("token") || "").trim(),
  };
}

/** Puts the joined session in the address bar, so a reload joins it again. */
export function rememberInLocation({ sessionId, name, token }) {
  const url = new URL(window.location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set("session", sessionId);
  if (token) {
    url.hash = new URLSearchParams({ token }).toString();
  } else if (name) {
    url.searchParams.set("name", name);
  }
  window.history.replaceState(null, "", url.toString());
}

/** The link another person opens to join (open mode): no name, so they are asked theirs. */
export function shareLink(sessionId) {
  const url = new URL(window.location.href);
  url.search = "";
  url.hash = "";
  url.searchParams.set("session", sessionId);
  return url.toString();
}

/**
 * The claims of a join token, read (not verified: the server verifies) to know the name and
 * role before the join answers. Null for anything that is not a JWT.
 */
export function tokenClaims(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) return null;
  try {
    const base64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    const bytes = Uint8Array.from(atob(padded), (char) => char.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/**
 * A pasted invite link, or a bare session id: `{sessionId, token}`. Lets "Open a session"
 * take whatever the person was given.
 */
export function parseSessionInput(text) {
  const value = (text || "").trim();
  if (!value.includes("?") && !value.includes("#")) return { sessionId: value, token: "" };
  try {
    const found = readLocation(new URL(value, window.location.href));
    return { sessionId: found.sessionId, token: found.token };
  } catch {
    return { sessionId: value, token: "" };
  }
}
