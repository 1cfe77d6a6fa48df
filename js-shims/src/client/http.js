// The Mizan HTTP protocol (KERNEL.md §7 "Transports", docs/SERVER.md): one request per call, no
// decision of its own. Retries, de-duplication and invalidation are the kernel store's.
import { MizanRequestError } from './errors.js';

export const INVALIDATE_HEADER = 'X-Mizan-Invalidate';

/**
 * `baseUrl` (default `/api/mizan`): `GET {base}/ctx/{name}/?{query}`, `POST {base}/call/`,
 * `GET {base}/session/`. `fetch`: a fetch implementation (default `globalThis.fetch`).
 * `headers`: extra request headers, an object or a function returning one (auth tokens).
 * `credentials`: passed to fetch (default `same-origin`, fetch's own default).
 */
export function httpTransport({ baseUrl = '/api/mizan', fetch: fetchImpl, headers, credentials } = {}) {
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string');
  const base = baseUrl.replace(/\/+$/, '');
  const doFetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  const extra = () => (typeof headers === 'function' ? headers() : headers) ?? {};

  async function request(url, init) {
    const h = { Accept: 'application/json', ...extra(), ...init.headers };
    const opts = { ...init, headers: h };
    if (credentials !== undefined) opts.credentials = credentials;
    let res;
    let text;
    try {
      res = await doFetch(url, opts);
      text = await res.text();
    } catch (e) {
      throw new MizanRequestError({ network: true, message: e instanceof Error ? e.message : String(e) }, { cause: e });
    }
    let body;
    let parsed = text !== '';
    if (parsed) {
      try {
        body = JSON.parse(text);
      } catch {
        parsed = false;
      }
    }
    if (res.status < 200 || res.status > 299) {
      const env = parsed && body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : null;
      throw new MizanRequestError({
        status: res.status,
        code: typeof env?.code === 'string' ? env.code : res.status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${res.status}`,
        message: typeof env?.message === 'string' ? env.message : `Request failed with status ${res.status}`,
        details: env?.details ?? null,
        body: parsed ? body : null,
      });
    }
    if (!parsed) {
      throw new MizanRequestError({
        status: 502,
        code: 'INVALID_RESPONSE',
        message: `The server answered ${res.status} without a JSON body`,
      });
    }
    return { body, res };
  }

  return {
    kind: 'http',
    baseUrl: base,
    /** `GET {base}/ctx/{context}/?{query}`: the bundle. `query` is the kernel's canonical query string. */
    async fetch({ context, query }) {
      const url = `${base}/ctx/${encodeURIComponent(context)}/${query ? `?${query}` : ''}`;
      return (await request(url, { method: 'GET' })).body;
    },
    /** `POST {base}/call/`: the body and the `X-Mizan-Invalidate` header (the store reads both). */
    async call({ fn, args, csrfToken }) {
      const h = { 'Content-Type': 'application/json' };
      if (csrfToken) h['X-CSRFToken'] = csrfToken;
      const { body, res } = await request(`${base}/call/`, { method: 'POST', headers: h, body: JSON.stringify({ fn, args }) });
      return { body, header: res.headers.get(INVALIDATE_HEADER) };
    },
    /** `GET {base}/session/`: `{csrfToken}`. */
    async session() {
      return (await request(`${base}/session/`, { method: 'GET' })).body;
    },
  };
}
