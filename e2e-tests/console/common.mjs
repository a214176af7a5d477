// What the browser scripts share: sending events as an SDK would, and waiting for what
// arrives through the projector or a stream.

/** Posts `batch` to `url`'s tracking API with `writeKey`; answers the status and body. */
export async function send(url, writeKey, batch) {
  const response = await fetch(`${url}/v1/batch`, {
    method: "POST",
    headers: {
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString("base64")}`,
      "content-type": "application/json",
    },
    body: JSON.stringify({ batch }),
  });
  return { status: response.status, body: await response.json() };
}

/** Repeats `check` until it holds or `seconds` pass, running `between` after each miss. */
export async function eventually(seconds, check, between) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > until) throw error;
      if (between) await between();
      await new Promise((done) => setTimeout(done, 500));
    }
  }
}
