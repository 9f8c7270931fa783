// `/demo/` without a session to join: create one, or open one (prefilled when the address
// named a session but no name or token). Resolves with what to join.

import { api } from "../api.js";
import { $ } from "../dom.js";
import { AUTH_MODE, parseSessionInput } from "./link.js";

const DEMO_PROJECT = "demo";

/**
 * Shows the start forms; resolves with `{sessionId, name, token}` once a session is created
 * or chosen. In token mode creating takes a service token (used for two requests, then
 * dropped: never stored) and mints this person an editor's join token.
 */
export function askForSession({ root, sessionId = "", name = "", token = "" }) {
  root.hidden = false;
  const tokenMode = AUTH_MODE === "token";
  for (const element of root.querySelectorAll(".token-only")) element.hidden = !tokenMode;
  for (const element of root.querySelectorAll(".open-only")) element.hidden = tokenMode;
  const create = $("#create-form", root);
  const open = $("#open-form", root);
  open.elements.session.value = sessionId;
  open.elements.name.value = name;
  open.elements.token.value = token;
  create.elements.name.value = name;
  const missing = tokenMode ? open.elements.token : open.elements.name;
  (sessionId ? missing : create.elements.name).focus();

  return new Promise((resolve) => {
    create.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = await guard(create, () => createSession(create, tokenMode));
      if (chosen) resolve(chosen);
    });
    open.addEventListener("submit", async (event) => {
      event.preventDefault();
      const chosen = await guard(open, async () => openSession(open, tokenMode));
      if (chosen) resolve(chosen);
    });
  });
}

async function createSession(form, tokenMode) {
  const name = form.elements.name.value.trim();
  const title = form.elements.title.value.trim();
  const serviceToken = form.elements.service_token.value.trim();
  if (!name) throw new FormProblem("Give your name: the others see it.", form.elements.name);
  if (tokenMode && !serviceToken) {
    const field = form.elements.service_token;
    throw new FormProblem("This server needs a service token to create a session.", field);
  }
  const body = { project_id: DEMO_PROJECT };
  if (title) body.title = title;
  const token = serviceToken || undefined;
  const created = await api("/sessions", { method: "POST", body, token });
  if (!tokenMode) return { sessionId: created.session_id, name, token: "" };
  const grant = await api(`/sessions/${encodeURIComponent(created.session_id)}/tokens`, {
    method: "POST",
    body: { role: "editor", name },
    token: serviceToken,
  });
  form.elements.service_token.value = "";
  return { sessionId: created.session_id, name, token: grant.token };
}

function openSession(form, tokenMode) {
  const pasted = parseSessionInput(form.elements.session.value);
  const name = form.elements.name.value.trim();
  const token = pasted.token || form.elements.token.value.trim();
  const { elements } = form;
  if (!pasted.sessionId) {
    throw new FormProblem("Give the session id (or paste an invite link).", elements.session);
  }
  if (!token && tokenMode) {
    const message = "This server needs a join token: open the invite link you were given.";
    throw new FormProblem(message, elements.token);
  }
  if (!token && !name) throw new FormProblem("Give your name: the others see it.", elements.name);
  return { sessionId: pasted.sessionId, name, token };
}

class FormProblem extends Error {
  constructor(message, field) {
    super(message);
    this.field = field;
  }
}

/** Runs a submit: the button is busy meanwhile, and any failure is said in the form. */
async function guard(form, run) {
  const button = form.querySelector("button[type=submit]");
  const problem = form.querySelector(".form-error");
  problem.textContent = "";
  button.disabled = true;
  try {
    return await run();
  } catch (error) {
    problem.textContent = error.code
      ? `${error.message} (${error.code})`
      : error.message || "That did not work.";
    if (error.field) error.field.focus();
    return null;
  } finally {
    button.disabled = false;
  }
}
