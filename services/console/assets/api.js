// The public API, called with the signed-in person's token. The session lives in this tab
// only (sessionStorage): closing the tab signs out of the console.

import { saveFile } from "./dom.js";

const KEY = "cdp.console.session";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `the server answered ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.body = body || {};
  }
}

export function session() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY));
  } catch {
    return null;
  }
}

export function keep(tokens) {
  sessionStorage.setItem(KEY, JSON.stringify(tokens));
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

/** The response itself, for bodies read other than as one JSON value; errors thrown. */
async function open(method, path, body, token, signal) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
  });
  if (!response.ok) {
    const type = response.headers.get("content-type") || "";
    throw new ApiError(response.status, type.includes("application/json") ? await response.json() : null);
  }
  return response;
}

async function send(method, path, body, token) {
  const response = await open(method, path, body, token);
  const type = response.headers.get("content-type") || "";
  return type.includes("application/json") ? response.json() : null;
}

/** Signs in; answers the sign-in body (or throws, with `tenants` when one must be chosen). */
export async function signIn(email, password, tenantId, platform) {
  const body = { email, password };
  if (tenantId) body.tenant_id = tenantId;
  if (platform) body.platform = true;
  const tokens = await send("POST", "/v1/auth/login", body);
  keep(tokens);
  return tokens;
}

export async function signOut() {
  const current = session();
  forget();
  if (current && current.refresh_token) {
    await send("POST", "/v1/auth/logout", { refresh_token: current.refresh_token }).catch(() => {});
  }
}

/** The renewal under way, shared by every call that found the token expired: a refresh
 * token works once, and a second use of it ends the whole sign-in. */
let refreshing = null;

function refresh() {
  refreshing ??= (async () => {
    const current = session();
    if (!current || !current.refresh_token) return false;
    try {
      keep(await send("POST", "/v1/auth/refresh", { refresh_token: current.refresh_token }));
      return true;
    } catch {
      forget();
      return false;
    }
  })().finally(() => (refreshing = null));
  return refreshing;
}

/** `request(token)` with the session's token; an expired token is renewed once. */
async function authorized(request) {
  const used = session() && session().access_token;
  try {
    return await request(used);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
    // Another call may have renewed the token meanwhile: use the new one, without renewing again.
    const now = session() && session().access_token;
    if ((now && now !== used) || (await refresh())) return request(session().access_token);
    throw error;
  }
}

export const call = (method, path, body) => authorized((token) => send(method, path, body, token));
export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});
export const put = (path, body) => call("PUT", path, body ?? {});
export const patch = (path, body) => call("PATCH", path, body ?? {});
export const remove = (path, body) => call("DELETE", path, body);

/** What `path` lists under `key`, or nothing when `allowed` is false or the call fails:
 * for choices and names shown beside a page, whose absence must not stop it. */
export async function listOrNothing(allowed, path, key) {
  if (!allowed) return [];
  try {
    return (await get(path))[key];
  } catch {
    return [];
  }
}

/**
 * Saves what `path` answers as a file named `filename`. The API wants the token in a
 * header, so a plain link cannot fetch it: the body comes through fetch and is handed to
 * the browser as a local object.
 */
export async function download(path, filename) {
  const response = await authorized((token) => open("GET", path, undefined, token));
  saveFile(await response.blob(), filename);
}

/**
 * Follows a server-sent event stream, calling `onFrame({id, event, data})` for each frame
 * with data, until `signal` aborts it. EventSource cannot send the Authorization header,
 * so the stream is read through fetch.
 */
export async function follow(path, onFrame, signal) {
  const response = await authorized((token) => open("GET", path, undefined, token, signal));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const frame = { id: null, event: "message", data: "" };
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon <= 0) continue; // a comment (keep-alive) or a bare line
        const field = line.slice(0, colon);
        const text = line.slice(colon + 1).replace(/^ /, "");
        if (field === "data") frame.data += (frame.data ? "\n" : "") + text;
        else if (field === "id" || field === "event") frame[field] = text;
      }
      if (frame.data) onFrame(frame);
    }
  }
}
