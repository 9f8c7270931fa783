// What the page tells the person: the session-ended banner, a join that failed, and short
// status lines for refused changes. Codes stay visible next to the sentence, for support.

import { h, replaceChildren } from "../dom.js";

const END_REASONS = {
  ended_by_admin: "an administrator ended it",
  admin_cleanup: "an administrator's cleanup ended it",
  idle_timeout: "it was idle for too long",
  never_joined: "nobody joined it in time",
  ttl_expired: "its time limit ran out",
  server_shutdown: "the server shut down",
};

const FORBIDDEN_REASONS = {
  expired: "the invite has expired",
  not_yet_valid: "the invite is not valid yet",
  bad_signature: "the invite was not signed by this server",
  wrong_session: "the invite is for another session",
  wrong_audience: "the invite is not meant for SessionHub",
  bad_algorithm: "the invite is signed in a way this server refuses",
  malformed: "the invite is not a valid join token",
  viewer: "viewers may look but not change the board",
};

/** "This session has ended: an administrator ended it (ended_by_admin)." */
export function endedSentence(reason) {
  if (reason && END_REASONS[reason]) {
    return `This session has ended: ${END_REASONS[reason]} (${reason}).`;
  }
  return `This session has ended (${reason || "session_ended"}).`;
}

/** A refused join or change as one clear sentence, its code in brackets. */
export function errorSentence(error, sessionId) {
  const code = (error && error.code) || "unknown";
  const details = (error && error.details) || {};
  const why = details.reason ? `: ${details.reason}` : "";
  switch (code) {
    case "session_not_found":
      return (
        `Session not found: there is no session with the id “${sessionId}” ` +
        "(session_not_found)."
      );
    case "invalid_payload":
      return `That session link is not valid: ${error.message} (invalid_payload).`;
    case "unauthorized":
      return "This server needs an invite link (a join token) to join a session (unauthorized).";
    case "forbidden": {
      const reason = FORBIDDEN_REASONS[details.reason] || error.message || "the server refused";
      return `Not allowed: ${reason} (forbidden${why}).`;
    }
    case "session_full":
      return "This session is full: try again when someone has left (session_full).";
    case "rate_limited":
      return "Too many changes at once: the server refused one; wait a moment (rate_limited).";
    case "invalid_operation":
      if (details.reason === "node_not_found") {
        return "That card is gone: someone deleted it (invalid_operation: node_not_found).";
      }
      if (details.reason === "node_exists") {
        return "That card exists already (invalid_operation: node_exists).";
      }
      return `The server refused the change: ${error.message} (invalid_operation${why}).`;
    case "nothing_to_undo":
      return "Nothing to undo.";
    case "nothing_to_redo":
      return "Nothing to redo.";
    case "timeout":
      return `The server did not answer in time: ${error.message} (timeout).`;
    case "offline":
      return "Not connected to the server: nothing was sent (offline).";
    default:
      return `${(error && error.message) || "Something went wrong."} (${code}).`;
  }
}

export class Notices {
  constructor({ ended, joinError, status }) {
    this.endedBanner = ended;
    this.joinError = joinError;
    this.status = status;
    this.statusTimer = null;
  }

  showEnded(reason) {
    this.joinError.hidden = true;
    replaceChildren(this.endedBanner, h("strong", {}, endedSentence(reason)), " ",
      h("a", { href: window.location.pathname }, "Start or open another session"));
    this.endedBanner.hidden = false;
  }

  /** A join refused: a lasting alert, with a way back to the start forms. */
  showJoinError(error, sessionId) {
    replaceChildren(this.joinError, h("strong", {}, errorSentence(error, sessionId)), " ",
      h("a", { href: window.location.pathname }, "Start or open another session"));
    this.joinError.hidden = false;
  }

  hideJoinError() {
    this.joinError.hidden = true;
  }

  /** A short status line (role=status) that clears itself. */
  say(message, { sticky = false } = {}) {
    window.clearTimeout(this.statusTimer);
    this.status.textContent = message;
    if (!sticky) {
      this.statusTimer = window.setTimeout(() => {
        this.status.textContent = "";
      }, 6000);
    }
  }
}
