// Cleanup: a dry run lists what POST /sessions/cleanup would end; only then can the admin run
// it for real, with the same parameters, and see what it actually ended (which may differ:
// a client may have joined, or another session gone idle, in between).

import { $, announce, h, replaceChildren } from "../dom.js";
import { busy, clearError, setText, showError } from "./ui.js";

export class Cleanup {
  /** `titleOf(id)`: a title when the sessions table knows it; `onChanged()` after a real run. */
  constructor({ client, titleOf, onChanged }) {
    this.client = client;
    this.titleOf = titleOf;
    this.onChanged = onChanged;
    this.preview = null; // {params, ids} of the dry run the confirm button would act on
    this.error = $("#cleanup-error");
    $("#cleanup-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy($("#cleanup-preview"), () => this.dryRun());
    });
    // A changed limit makes the preview stale: the real run must use what was previewed.
    $("#cleanup-hours").addEventListener("input", () => this.reset());
    $("#cleanup-run").addEventListener("click", () => busy($("#cleanup-run"), () => this.run()));
    $("#cleanup-cancel").addEventListener("click", () => {
      this.reset();
      $("#cleanup-preview").focus();
    });
  }

  reset() {
    this.preview = null;
    $("#cleanup-result").hidden = true;
    $("#cleanup-confirm").hidden = true;
    $("#cleanup-diff").hidden = true;
    replaceChildren($("#cleanup-list"));
    clearError(this.error);
  }

  params() {
    const text = $("#cleanup-hours").value.trim();
    if (!text) return {};
    const hours = Number(text);
    if (!Number.isFinite(hours) || hours <= 0) {
      throw new Error(
        "Max inactive hours must be a number above 0 (e.g. 0.5 or 48), " +
          "or empty for the server's default.",
      );
    }
    return { max_inactive_hours: hours };
  }

  async dryRun() {
    let params;
    try {
      params = this.params();
    } catch (problem) {
      this.reset();
      showError(this.error, problem.message);
      $("#cleanup-hours").focus();
      return;
    }
    try {
      const result = await this.client.call("/sessions/cleanup", {
        method: "POST",
        body: { ...params, dry_run: true },
      });
      this.reset();
      this.preview = { params, ids: result.removed_sessions };
      const n = result.count;
      this.showList(
        n
          ? `The cleanup would end ${n} ${n === 1 ? "session" : "sessions"}:`
          : "Nothing to clean up: no session would be ended.",
        result.removed_sessions,
      );
      $("#cleanup-confirm").hidden = n === 0;
      announce(n ? `Dry run: ${n} sessions would be ended` : "Dry run: nothing to clean up");
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }

  async run() {
    if (!this.preview) return;
    const previewed = this.preview.ids;
    try {
      const result = await this.client.call("/sessions/cleanup", {
        method: "POST",
        body: { ...this.preview.params, dry_run: false },
      });
      this.preview = null;
      $("#cleanup-confirm").hidden = true;
      const n = result.count;
      this.showList(`Ended ${n} ${n === 1 ? "session" : "sessions"}:`, result.removed_sessions);
      this.showDifference(previewed, result.removed_sessions);
      announce(`Cleanup ended ${n} sessions`);
      await this.onChanged();
    } catch (error) {
      if (!error.reported) showError(this.error, error);
    }
  }

  showList(summary, ids) {
    setText($("#cleanup-summary"), summary);
    replaceChildren(
      $("#cleanup-list"),
      ids.map((id) => {
        const title = this.titleOf(id);
        return h(
          "li",
          { dataset: { sessionId: id } },
          h("code", {}, id),
          title ? h("span", { class: "list-title" }, ` ${title}`) : null,
        );
      }),
    );
    $("#cleanup-result").hidden = false;
  }

  showDifference(previewed, ended) {
    const notEnded = previewed.filter((id) => !ended.includes(id));
    const unexpected = ended.filter((id) => !previewed.includes(id));
    const diff = $("#cleanup-diff");
    if (!notEnded.length && !unexpected.length) {
      diff.hidden = true;
      return;
    }
    const parts = ["Things changed since the preview:"];
    if (notEnded.length) {
      parts.push(
        `${notEnded.length} previewed (${notEnded.join(", ")}) were not ended ` +
          "(a client joined, it was pinned or it ended meanwhile);",
      );
    }
    if (unexpected.length) {
      parts.push(
        `${unexpected.length} not in the preview (${unexpected.join(", ")}) were ended too ` +
          "(they went idle meanwhile).",
      );
    }
    setText(diff, parts.join(" "));
    diff.hidden = false;
  }
}
