// The client store (KERNEL.md §7; wit/store.wit), the low level under the client session. Sans-IO:
// pass `now` (ms), perform the effects `drain` returns, feed results back. Ids and times are
// numbers here (u64 BigInts in the glue). This file only translates.
import { runtime } from './kernel/full.js';
import { KernelResource } from './kernel/resource.js';
import { json, optJson, parseOpt, str, u64 } from './kernel/values.js';

/**
 * One client store. State lives in the kernel instance: after a trap the store is recreated
 * empty from its config (like `reset()`), and the trapping call throws `code: "trap"`.
 */
export class Store extends KernelResource {
  /** Use Store.create(config). */
  constructor(config) {
    if (!runtime.exports().store) throw new Error('@mizan/kernel-wasm: this kernel build has no store interface');
    const c = optJson('config', config);
    super(runtime, (k) => k.store.Store.create(c));
  }

  /** `{stale_time_ms?, gc_time_ms?, retries?, retry_base_ms?, retry_max_ms?, max_instances?, refetch_on_focus?, refetch_on_reconnect?, seed?}` */
  static create(config) {
    return new Store(config);
  }



  /** Ask for `GET /session/` (once). */
  start() {
    this._do((s) => s.start());
  }

  sessionOk(requestId, body) {
    const id = u64('requestId', requestId);
    const b = json('body', body);
    this._do((s) => s.sessionOk(id, b));
  }

  /** Observe `(context, params)`; returns the instance key. */
  subscribe(context, params = {}, now) {
    str('context', context);
    const p = json('params', params);
    const t = u64('now', now);
    return this._do((s) => s.subscribe(context, p, t));
  }

  unsubscribe(key, now) {
    str('key', key);
    const t = u64('now', now);
    this._do((s) => s.unsubscribe(key, t));
  }

  /** Warm the cache without observing; returns the instance key. */
  prefetch(context, params = {}, now) {
    str('context', context);
    const p = json('params', params);
    const t = u64('now', now);
    return this._do((s) => s.prefetch(context, p, t));
  }

  refetch(key) {
    str('key', key);
    this._do((s) => s.refetch(key));
  }

  fetchOk(requestId, body, now) {
    const id = u64('requestId', requestId);
    const b = json('body', body);
    const t = u64('now', now);
    this._do((s) => s.fetchOk(id, b, t));
  }

  /** `error`: `{network: true}`, `{status, body?}` or `{code, message}`. */
  fetchErr(requestId, error, now) {
    const id = u64('requestId', requestId);
    const e = json('error', error);
    const t = u64('now', now);
    this._do((s) => s.fetchErr(id, e, t));
  }

  /** Start a mutation; `optimistic` is a list of merge entries applied at once. Returns its id. */
  mutate(fn, args = {}, optimistic) {
    str('fn', fn);
    const a = json('args', args);
    const o = optimistic === undefined || optimistic === null ? undefined : json('optimistic', optimistic);
    return Number(this._do((s) => s.mutate(fn, a, o)));
  }

  /** The call's JSON body and its `X-Mizan-Invalidate` header, if any. */
  callOk(requestId, body, header) {
    const id = u64('requestId', requestId);
    const b = json('body', body);
    const h = header === undefined || header === null ? undefined : str('header', header);
    this._do((s) => s.callOk(id, b, h));
  }

  callErr(requestId, error) {
    const id = u64('requestId', requestId);
    const e = json('error', error);
    this._do((s) => s.callErr(id, e));
  }

  releaseMutation(mutationId) {
    const id = u64('mutationId', mutationId);
    this._do((s) => s.releaseMutation(id));
  }

  /** Mark matching instances stale; keeps data. */
  invalidate(entries) {
    const e = json('entries', entries);
    this._do((s) => s.invalidate(e));
  }

  /** Drop data of matching instances at once (all of them without `entries`). */
  remove(entries) {
    const e = entries === undefined || entries === null ? undefined : json('entries', entries);
    this._do((s) => s.remove(e));
  }

  /** Identity changed: drop every instance's data, forget mutations, new session. */
  reset() {
    this._do((s) => s.reset());
  }

  tick(now) {
    const t = u64('now', now);
    this._do((s) => s.tick(t));
  }

  focus(now) {
    const t = u64('now', now);
    this._do((s) => s.focus(t));
  }

  online(now) {
    const t = u64('now', now);
    this._do((s) => s.online(t));
  }

  /** `{version: 1, instances: [{context, params, data}]}` for SSR. */
  dehydrate() {
    return JSON.parse(this._do((s) => s.dehydrate()));
  }

  hydrate(payload, now) {
    const p = json('payload', payload);
    const t = u64('now', now);
    this._do((s) => s.hydrate(p, t));
  }

  /** The instance snapshot, or null for an unknown key. */
  snapshot(key, now) {
    str('key', key);
    const t = u64('now', now);
    return parseOpt(this._do((s) => s.snapshot(key, t)));
  }

  /** `{id, fn, status, result, error}`, or null for an unknown id. */
  mutation(mutationId) {
    const id = u64('mutationId', mutationId);
    return parseOpt(this._do((s) => s.mutation(id)));
  }

  instanceCount() {
    return this._do((s) => s.instanceCount());
  }

  /** `{effects, changed, mutations}` since the last drain. */
  drain(now) {
    const t = u64('now', now);
    return JSON.parse(this._do((s) => s.drain(t)));
  }

}
