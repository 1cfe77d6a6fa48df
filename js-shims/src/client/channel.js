// A message channel (webviews: VS Code, Tauri/Electron windows, iframes, workers): requests and
// responses as plain messages with ids. `channelTransport` is the webview's end; `serveChannel`
// answers on the other end with any transport (usually an httpTransport or a tauriTransport).
//
// Messages: `{mizan: 1, kind: "request", id, op: "fetch"|"call"|"session", ...}` and
// `{mizan: 1, kind: "response", id, ok: true, value}` | `{..., ok: false, error}`; `error` is
// MizanRequestError#toJSON() and is re-wrapped into the same type.
import { asRequestError, MizanRequestError } from './errors.js';

const PROTOCOL = 1;

/**
 * `port`: a MessagePort, a Worker, a window (anything with `postMessage` and
 * `addEventListener('message')` or `onmessage`), or `{send(message), listen(handler) → stop}`
 * (the handler receives the message itself, e.g. VS Code's `onDidReceiveMessage`).
 */
function endpoint(port, targetOrigin) {
  if (!port || (typeof port.postMessage !== 'function' && typeof port.send !== 'function')) {
    throw new TypeError('port must have postMessage(message) or send(message)');
  }
  const post = typeof port.send === 'function'
    ? (m) => port.send(m)
    : targetOrigin !== undefined
      ? (m) => port.postMessage(m, targetOrigin)
      : (m) => port.postMessage(m);
  const listen = (handler) => {
    if (typeof port.listen === 'function') {
      const stop = port.listen(handler);
      return typeof stop === 'function' ? stop : () => stop?.dispose?.();
    }
    const onMessage = (ev) => handler(ev && 'data' in ev ? ev.data : ev);
    if (typeof port.addEventListener === 'function') {
      port.addEventListener('message', onMessage);
      port.start?.(); // a MessagePort delivers nothing before start() when addEventListener is used
      return () => port.removeEventListener('message', onMessage);
    }
    if ('onmessage' in port || typeof port.on !== 'function') {
      port.onmessage = onMessage;
      return () => {
        if (port.onmessage === onMessage) port.onmessage = null;
      };
    }
    port.on('message', handler); // node:worker_threads
    return () => port.off('message', handler);
  };
  return { post, listen };
}

const isMsg = (m, kind) => m && typeof m === 'object' && m.mizan === PROTOCOL && m.kind === kind;

/** The webview's end. `timeoutMs` (default none): a request unanswered by then fails as a network error. */
export function channelTransport(port, { timeoutMs = 0, targetOrigin } = {}) {
  const { post, listen } = endpoint(port, targetOrigin);
  const prefix = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}.`;
  let seq = 0;
  const pending = new Map();
  const stop = listen((m) => {
    if (!isMsg(m, 'response')) return;
    const p = pending.get(m.id);
    if (!p) return; // another client's answer on a shared channel
    pending.delete(m.id);
    if (p.timer) clearTimeout(p.timer);
    if (m.ok) p.resolve(m.value);
    else p.reject(asRequestError(m.error ?? { network: true, message: 'channel error' }));
  });

  function request(op, payload) {
    return new Promise((resolve, reject) => {
      const id = prefix + ++seq;
      const p = { resolve, reject, timer: null };
      if (timeoutMs > 0) {
        p.timer = setTimeout(() => {
          pending.delete(id);
          reject(new MizanRequestError({ network: true, message: `no answer on the channel within ${timeoutMs} ms` }));
        }, timeoutMs);
      }
      pending.set(id, p);
      try {
        post({ mizan: PROTOCOL, kind: 'request', id, op, ...payload });
      } catch (e) {
        pending.delete(id);
        if (p.timer) clearTimeout(p.timer);
        reject(new MizanRequestError({ network: true, message: e instanceof Error ? e.message : String(e) }, { cause: e }));
      }
    });
  }

  return {
    kind: 'channel',
    fetch: ({ context, params, query }) => request('fetch', { context, params, query }),
    call: ({ fn, args, csrfToken }) => request('call', { fn, args, csrfToken: csrfToken ?? null }),
    session: () => request('session', {}),
    /** Stop listening; pending requests fail as network errors. */
    close() {
      stop();
      for (const [id, p] of pending) {
        if (p.timer) clearTimeout(p.timer);
        p.reject(new MizanRequestError({ network: true, message: 'channel closed' }));
        pending.delete(id);
      }
    },
  };
}

/**
 * The other end: answer a channel's requests with `transport` (whose results and errors are sent
 * back as they are). Returns a function that stops serving.
 */
export function serveChannel(port, transport, { targetOrigin } = {}) {
  const { post, listen } = endpoint(port, targetOrigin);
  return listen(async (m) => {
    if (!isMsg(m, 'request')) return;
    let out;
    try {
      let value;
      if (m.op === 'fetch') value = await transport.fetch({ context: m.context, params: m.params ?? {}, query: m.query ?? '' });
      else if (m.op === 'call') value = await transport.call({ fn: m.fn, args: m.args ?? {}, csrfToken: m.csrfToken ?? null });
      else if (m.op === 'session') value = transport.session ? await transport.session() : { csrfToken: null };
      else throw new MizanRequestError({ code: 'BAD_REQUEST', message: `unknown channel op ${String(m.op)}` });
      out = { mizan: PROTOCOL, kind: 'response', id: m.id, ok: true, value };
    } catch (e) {
      out = { mizan: PROTOCOL, kind: 'response', id: m.id, ok: false, error: asRequestError(e).toJSON() };
    }
    post(out);
  });
}
