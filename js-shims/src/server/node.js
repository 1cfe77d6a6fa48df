// The node:http front door. It runs the same app and flow as the fetch handler, but from Node's
// own request rather than through a Fetch `Request`: a `Request` uppercases `get` to `GET` and
// joins repeated header lines, and the engine must see the method and credential lines exactly as
// they arrived (docs/SERVER.md "What a host does", step 2). It also skips a copy per request.
import http from 'node:http';
import { requestHeaders } from '../server.js';
import { handle } from './flow.js';

/** The headers the engine reads (the kernel's list, lower-case), asked for once. */
let credentials;
const isCredential = (name) => (credentials ??= new Set(requestHeaders())).has(name.toLowerCase());

/** The request target's bytes as the engine takes them: every byte that is not printable ASCII percent-encoded. */
function rawTarget(url) {
  if (/^[\x21-\x7e]*$/.test(url)) return url;
  return Array.from(Buffer.from(url, 'latin1'), (b) => (b >= 0x21 && b <= 0x7e ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function target(url) {
  const raw = rawTarget(url ?? '/');
  const q = raw.indexOf('?');
  return q < 0 ? [raw, ''] : [raw.slice(0, q), raw.slice(q + 1)];
}

/** Every line of the credential headers, each as it arrived. */
function credentialLines(rawHeaders) {
  const out = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (isCredential(rawHeaders[i])) out.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return out;
}

/** At most `limit + 1` bytes of the body; the rest of a larger one is read and dropped. */
function readLimited(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    const done = () => {
      req.off('data', onData).off('end', done).off('error', reject);
      req.resume(); // past the limit: drain, so the connection can serve its next request
      resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk) => {
      const room = limit + 1 - size;
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      chunks.push(part);
      size += part.length;
      if (size > limit) done();
    };
    req.on('data', onData).on('end', done).on('error', reject);
  });
}

function send(res, r) {
  const headers = r.headers.flat();
  headers.push('Content-Length', String(Buffer.byteLength(r.body)));
  res.writeHead(r.status, headers);
  res.end(r.body); // Node sends no body for HEAD
}

function serve(app, req, res) {
  const run = async () => {
    const [path, query] = target(req.url);
    let body = '';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      try {
        body = await readLimited(req, app.bodyLimit);
      } catch {
        return app.errorResponse('BAD_REQUEST', 'Invalid request body');
      }
    }
    const request = { method: req.method, path, query, headers: credentialLines(req.rawHeaders), body };
    return handle(app, request, req);
  };
  return run().then((r) => send(res, r), (e) => {
    app.logger.error('mizan: request failed', e);
    res.destroy(e);
  });
}

/** The app behind a handler made by `mizanHandler` (or the app itself). */
function appOf(handler) {
  const app = handler?.app ?? handler;
  if (!app || typeof app.errorResponse !== 'function') throw new TypeError('pass the handler mizanHandler() made');
  return app;
}

/**
 * A `(req, res)` listener for `node:http` (and frameworks that take one): requests under the app's
 * base path go to Mizan, others to `fallback(req, res)` (default: the engine's 404).
 */
export function nodeListener(handler, { fallback } = {}) {
  const app = appOf(handler);
  const base = app.basePath;
  return (req, res) => {
    const url = req.url ?? '/';
    const ours = base === '' || url === base || url.startsWith(`${base}/`) || url.startsWith(`${base}?`);
    if (!ours && fallback) return fallback(req, res);
    return serve(app, req, res);
  };
}

/** Parse the head of a request Node's parser refused: `{method, url, rawHeaders}` or null. */
function parseHead(packet) {
  const text = packet.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = (end < 0 ? text : text.slice(0, end)).split('\r\n');
  const m = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0]);
  if (!m) return null;
  const rawHeaders = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) rawHeaders.push(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return { method: m[1], url: m[2], rawHeaders };
}

/**
 * An `http.Server` serving the handler (`fallback` as in `nodeListener`). Node's parser refuses a
 * method token it does not know (`get`, `FOO`) before any listener runs; this server answers
 * those through the engine too (its 405 with `Allow`), from the request head Node kept, as the
 * other hosts do.
 */
export function createNodeServer(handler, { fallback, ...serverOptions } = {}) {
  const app = appOf(handler);
  const server = http.createServer(serverOptions, nodeListener(app, { fallback }));
  server.on('clientError', (err, socket) => {
    const head = err.code === 'HPE_INVALID_METHOD' && err.rawPacket ? parseHead(err.rawPacket) : null;
    if (!socket.writable || err.code === 'ECONNRESET') return socket.destroy();
    if (head === null) return socket.end(`HTTP/1.1 ${err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\nConnection: close\r\n\r\n`);
    const [path, query] = target(head.url);
    const headers = Object.fromEntries(head.rawHeaders.flatMap((v, i, a) => (i % 2 ? [] : [[v.toLowerCase(), a[i + 1]]])));
    const hostRequest = { method: head.method, url: head.url, headers, rawHeaders: head.rawHeaders };
    const request = { method: head.method, path, query, headers: credentialLines(head.rawHeaders), body: '' };
    handle(app, request, hostRequest).then((r) => {
        const lines = r.headers.map(([n, v]) => `${n}: ${v}\r\n`).join('');
        socket.end(`HTTP/1.1 ${r.status} ${http.STATUS_CODES[r.status] ?? ''}\r\n${lines}Content-Length: ${Buffer.byteLength(r.body)}\r\nConnection: close\r\n\r\n${r.body}`);
      }, () => socket.destroy());
  });
  return server;
}

/** A header of a host request, from node:http (`req.headers`) or the Fetch API (`request.headers.get`). */
export function requestHeader(request, name) {
  const headers = request?.headers;
  if (!headers) return null;
  if (typeof headers.get === 'function') return headers.get(name);
  const v = headers[name.toLowerCase()];
  return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
}
