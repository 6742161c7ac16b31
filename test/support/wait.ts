/** The two things every out-of-process test does: call a process over HTTP, and wait for a state. */

/** One HTTP call; JSON bodies are sent and parsed when they are JSON, the raw text is kept as well. */
export async function http(method: string, u: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(u, {
    method,
    headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, text, json };
}

/** Polls `fn` until it returns something truthy; a timeout names what was being waited for. */
export async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 30_000, everyMs = 200): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
