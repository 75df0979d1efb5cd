// The only way the UI talks to the server: /auth/* and /work/api/*.
// Errors are RFC 9457 problem details; they surface as ApiError with the server's detail.

export class ApiError extends Error {
  constructor(status, problem) {
    const detail =
      problem.detail || problem.title || (status ? `HTTP ${status}` : "request failed");
    super(detail);
    this.status = status;
    this.type = problem.type || "";
    this.title = problem.title || "";
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }

  /** What went wrong, for a person. The server's detail already names every invalid
   * field in words (domain/wording.py); `errors[].field` holds machine names for code,
   * so it is not shown (repeating it read "dueDate: … (dueDate: …)"). */
  get full() {
    if (this.detail || !this.errors.length) return this.message;
    return this.errors.map((e) => e.message).join("; ");
  }

  get versionMismatch() {
    return this.status === 409 && /version/.test(this.type);
  }
}

let onUnauthorized = () => {};

/** Called on any 401 from an API call (the session is gone). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

/**
 * api("/work/api/tasks", {method, json, form, query, headers, allow401})
 * Returns the parsed JSON body (or null for an empty one).
 */
export async function api(path, options = {}) {
  const { method = "GET", json, form, query, allow401 = false, headers: extra = {} } = options;
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const headers = { accept: "application/json, application/problem+json", ...extra };
  let body;
  if (json !== undefined) {
    headers["content-type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // FormData: the browser sets the multipart boundary
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  } catch {
    throw new ApiError(0, { detail: "the server could not be reached (network error)" });
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
    const problem = data && typeof data === "object" ? data : {};
    const error = new ApiError(response.status, {
      title: problem.title || response.statusText,
      ...problem,
    });
    if (response.status === 401 && !allow401) onUnauthorized(error);
    throw error;
  }
  return data;
}

/** Every item of a collection, following nextCursor (at most `maxPages` pages). */
export async function listAll(path, query = {}, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const result = await api(path, { query: { ...query, limit: 500, cursor } });
    items.push(...result.items);
    cursor = result.nextCursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}
