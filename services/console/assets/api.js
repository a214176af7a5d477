// The public API, called with the signed-in person's token. The session lives in this tab
// only (sessionStorage): closing the tab signs out of the console.

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

async function send(method, path, body, token) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("application/json") ? await response.json() : null;
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Signs in; answers the sign-in body (or throws, with `tenants` when one must be chosen). */
export async function signIn(email, password, tenantId) {
  const body = { email, password };
  if (tenantId) body.tenant_id = tenantId;
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

async function refresh() {
  const current = session();
  if (!current || !current.refresh_token) return false;
  try {
    keep(await send("POST", "/v1/auth/refresh", { refresh_token: current.refresh_token }));
    return true;
  } catch {
    forget();
    return false;
  }
}

/** A call with the session's token; an expired token is renewed once. */
export async function call(method, path, body) {
  const current = session();
  try {
    return await send(method, path, body, current && current.access_token);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401 && (await refresh())) {
      return send(method, path, body, session().access_token);
    }
    throw error;
  }
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body ?? {});
