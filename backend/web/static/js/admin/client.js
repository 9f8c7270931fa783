// Every REST call of the dashboard goes through `call`: it adds the admin token, notices when
// the server stops accepting it or stops answering, and drops answers that arrive after a
// sign-out, so nothing from the last sign-in is drawn into the page.

import { ApiError, api } from "../api.js";

export class AdminClient {
  /**
   * `onRefused(error)`: the server answered 401/403 to the token in use.
   * `onReachable(ok, error)`: whether the last call got an answer at all.
   */
  constructor({ onRefused, onReachable }) {
    this.token = null;
    this.generation = 0;
    this.onRefused = onRefused;
    this.onReachable = onReachable;
  }

  use(token) {
    this.token = token;
    this.generation += 1;
  }

  forget() {
    this.token = null;
    this.generation += 1;
  }

  /**
   * api() with the token. Errors the client already reported to the page (a refused token, no
   * answer, a sign-out in between) carry `reported = true`, so panels show only their own.
   */
  async call(path, options = {}) {
    const generation = this.generation;
    if (!this.token) throw stale();
    try {
      const result = await api(path, { ...options, token: this.token });
      if (generation !== this.generation) throw stale();
      this.onReachable(true);
      return result;
    } catch (error) {
      if (generation !== this.generation) throw stale();
      if (error.code === "network_error") {
        this.onReachable(false, error);
        error.reported = true;
      } else if (error.status === 401 || error.status === 403) {
        error.reported = true;
        this.onRefused(error);
      } else if (error instanceof ApiError) {
        this.onReachable(true);
      }
      throw error;
    }
  }
}

function stale() {
  const error = new ApiError(0, "signed_out", "Signed out before the answer came.", {});
  error.reported = true;
  return error;
}
