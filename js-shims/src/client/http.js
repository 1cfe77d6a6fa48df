// The Mizan HTTP protocol (KERNEL.md §7 "Transports", docs/SERVER.md): performs the requests the
// kernel's client session builds, and hands back status, body text and the invalidation header.
// What they mean (envelope, retries, invalid answers) is the kernel's to read.
import { clientKernel } from '../kernel/client.js';
import { fromRecord, MizanRequestError } from './errors.js';

export const INVALIDATE_HEADER = 'X-Mizan-Invalidate';

/**
 * `baseUrl` (default `/api/mizan`); the session's requests are relative to it (`ctx/{name}/?{query}`,
 * `call/`, `session/`). `fetch`: a fetch implementation (default `globalThis.fetch`). `headers`:
 * extra request headers, an object or a function returning one (auth tokens). `credentials`:
 * passed to fetch (default `same-origin`, fetch's own default).
 */
export function httpTransport({ baseUrl = '/api/mizan', fetch: fetchImpl, headers, credentials } = {}) {
  if (typeof baseUrl !== 'string') throw new TypeError('baseUrl must be a string');
  const base = baseUrl.replace(/\/+$/, '');
  const doFetch = fetchImpl ?? ((input, init) => globalThis.fetch(input, init));
  const extra = () => (typeof headers === 'function' ? headers() : headers) ?? {};

  /** One request as the session gives it: `{method, path, headers: [[name, value]], body?, timeoutMs?}`. */
  async function request({ method, path, headers: list, body, timeoutMs }) {
    const h = { Accept: 'application/json', ...extra() };
    for (const [name, value] of list ?? []) h[name] = value;
    const init = { method, headers: h };
    if (body !== undefined && body !== null) init.body = body;
    if (credentials !== undefined) init.credentials = credentials;
    const limit = Number(timeoutMs ?? 0);
    if (limit > 0) init.signal = AbortSignal.timeout(limit);
    let res;
    let text;
    try {
      res = await doFetch(`${base}/${path}`, init);
      text = await res.text();
    } catch (e) {
      const timedOut = init.signal?.aborted;
      const message = timedOut ? `no answer within ${limit} ms` : e instanceof Error ? e.message : String(e);
      throw new MizanRequestError({ network: true, message }, { cause: e });
    }
    return { status: res.status, body: text, invalidate: res.headers.get(INVALIDATE_HEADER) ?? undefined };
  }

  /** The body of an answer as the kernel reads it, or the MizanRequestError it means. */
  function read(answer) {
    const r = clientKernel().readResponse(answer.status, answer.body);
    if (r.err) throw fromRecord(r.err);
    return JSON.parse(r.ok);
  }

  const perform = (op) => {
    const h = clientKernel().requestOf(op);
    return request({ method: h.method.toUpperCase(), path: h.path, headers: h.headers, body: h.body });
  };

  return {
    kind: 'http',
    baseUrl: base,
    request,
    /** `GET {base}/ctx/{context}/?{query}`: the bundle. `query` is the kernel's canonical query string. */
    async fetch({ key, context, params, query }) {
      return read(await perform({ tag: 'fetch', val: { key: key ?? '', context, paramsJson: JSON.stringify(params ?? {}), query: query ?? '' } }));
    },
    /** `POST {base}/call/`: the body and the `X-Mizan-Invalidate` header (the session reads both). */
    async call({ fn, args, csrfToken }) {
      const answer = await perform({ tag: 'call', val: { function: fn, argsJson: JSON.stringify(args ?? {}), csrfToken: csrfToken ?? undefined } });
      return { body: read(answer), header: answer.invalidate ?? null };
    },
    /** `GET {base}/session/`: `{csrfToken}`. */
    async session() {
      return read(await perform({ tag: 'session' }));
    },
  };
}
