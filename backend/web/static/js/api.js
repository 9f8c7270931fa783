// The REST API as the README documents it: JSON in, JSON out, errors as {error: {code, message,
// details}}. Both pages call the server through this one function.

export const API_ROOT = document.body.dataset.api || "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

/**
 * Calls `API_ROOT + path`. `token` becomes `Authorization: Bearer <token>`; `body` is sent as
 * JSON. Resolves with the parsed body (null for an empty one); rejects with ApiError, whose
 * `code` is the server's error code (or `network_error` when no answer came).
 */
export async function api(path, { method = "GET", body, token, query } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let url = API_ROOT + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "network_error", `The server did not answer (${error.message}).`, {});
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText || `HTTP ${response.status}`,
      error.details,
    );
  }
  return data;
}
