// The WHATWG Fetch API front door: `mizanHandler(functions, options)` is `(Request) =>
// Promise<Response>`, for every runtime that speaks it (Node 18+, Deno, Bun, Cloudflare Workers)
// and every framework that takes a fetch handler (Hono, Next.js route handlers…).
import { MizanApp } from './app.js';
import { handle } from './flow.js';
import { requestHeaders } from '../server.js';

/** The headers the engine reads (the kernel's list, lower-case), asked for once. */
let credentials;

const utf8 = new TextEncoder();

/** `http://host/a/b?c#d` → `['/a/b', 'c']`, exactly as the URL holds them (no decoding). */
export function splitTarget(url) {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  const hash = url.indexOf('#');
  const target = start < 0 ? '/' : url.slice(start, hash < 0 ? undefined : hash);
  const q = target.indexOf('?');
  return q < 0 ? [target, ''] : [target.slice(0, q), target.slice(q + 1)];
}

/** At most `limit + 1` bytes of a body stream (enough for the engine to see it is too large). */
export async function readLimited(stream, limit) {
  if (stream === null) return new Uint8Array(0);
  const chunks = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    while (size <= limit) {
      const { done, value } = await reader.read();
      if (done) break;
      const room = limit + 1 - size;
      const chunk = value.byteLength > room ? value.subarray(0, room) : value;
      chunks.push(chunk);
      size += chunk.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The engine's response as a Fetch `Response` (for HEAD: the headers, with the body's length). */
export function toResponse(r, method) {
  const headers = new Headers(r.headers);
  if (method === 'HEAD') {
    headers.set('Content-Length', String(utf8.encode(r.body).byteLength));
    return new Response(null, { status: r.status, headers });
  }
  return new Response(r.body, { status: r.status, headers });
}

/** The engine's request from a Fetch `Request`: method, raw path and query, token headers, limited body. */
export async function engineRequest(request, bodyLimit) {
  const [path, query] = splitTarget(request.url);
  const headers = [];
  // A Fetch Headers joins repeated lines with ", "; the engine refuses a comma-joined credential as ambiguous.
  for (const name of (credentials ??= requestHeaders())) {
    const value = request.headers.get(name);
    if (value !== null) headers.push([name, value]);
  }
  const method = request.method;
  const body = method === 'GET' || method === 'HEAD' ? '' : await readLimited(request.body, bodyLimit);
  return { method, path, query, headers, body };
}

/**
 * A fetch handler serving the Mizan protocol under `basePath` (`/api/mizan`): every request it is
 * given goes to the engine, which answers paths outside the protocol with its 404. Options: see
 * `MizanApp` (`cache`, `cacheSecret`, `mwtSecret`, `jwtSecret`, `identity(request)`,
 * `revoked(sid)`, `basePath`, `bodyLimit`, `maxPublicEntries`, `logger`). `handler.app` is the app
 * (`purge`, `purgeUser`, `engine`, `registry`).
 */
export function mizanHandler(functions, options = {}) {
  const app = functions instanceof MizanApp ? functions : new MizanApp(functions, options);
  const handler = async (request) => {
    let req;
    try {
      req = await engineRequest(request, app.bodyLimit);
    } catch (e) {
      app.logger.warn('mizan: the request body failed to arrive', e);
      return toResponse(app.errorResponse('BAD_REQUEST', 'Invalid request body'), request.method);
    }
    return toResponse(await handle(app, req, request), request.method);
  };
  handler.app = app;
  return handler;
}
