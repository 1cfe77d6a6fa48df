// The client session (wit/session.wit) of one component: the resource wrapper and the two
// functions beside it. The client (src/client/) is its interpreter.
import { KernelResource } from './resource.js';
import { optJson } from './values.js';

export function sessionApi(runtime) {
  /** One client session. After a trap it comes back empty (the client replays into it). */
  class ClientSession extends KernelResource {
    /** `config`: the store's keys and `request_timeout_ms` (snake_case, as wit/session.wit). */
    constructor(config) {
      const c = optJson('config', config);
      super(runtime, (k) => k.clientSession.Session.create(c));
    }

    /** Events in jco's shape (`{tag, val}`); the output record as jco lifts it. `now`: ms. */
    update(events, now) {
      return this._do((s) => s.update(events, now));
    }

    snapshot(key, now) {
      const out = this._do((s) => s.snapshot(key, now));
      return out === undefined ? null : JSON.parse(out);
    }

    dehydrate() {
      return JSON.parse(this._do((s) => s.dehydrate()));
    }

    instanceCount() {
      return this._do((s) => s.instanceCount());
    }

    idle() {
      return this._do((s) => s.idle());
    }
  }

  /** `{ok: json}` or `{err: request-error record}`: an HTTP answer as the session reads it. */
  function readResponse(status, body) {
    return runtime.call((k) => {
      try {
        return { ok: k.clientSession.readResponse(status, body) };
      } catch (e) {
        // The error variant of the result, not a kernel failure: its record has `network`.
        if (e && typeof e === 'object' && e.payload && 'network' in e.payload) return { err: e.payload };
        throw e;
      }
    });
  }

  /** The HTTP form of an operation (`{tag: 'fetch' | 'call' | 'session', val}`), as the session builds it. */
  function requestOf(op) {
    return runtime.call((k) => k.clientSession.requestOf(op));
  }

  return { ClientSession, readResponse, requestOf };
}
