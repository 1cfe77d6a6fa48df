// @mizan/kernel-wasm/client: the client as an interpreter of the kernel's client session
// (wit/session.wit, kernel/src/session). The session decides everything — requests and their ids,
// the session start, de-duplication, staleness, retries, when a fetch or a call has settled,
// error codes, invalidation, merges, optimistic rollback, gc; this file performs its output: it
// sends the requests through a transport, keeps one timer, calls listeners and keeps the object
// identity of unchanged slots (structural sharing by slot version) for UI frameworks.
import { clientKernel } from '../kernel/client.js';
import { MizanKernelError } from '../kernel/errors.js';
import { json, optJson } from '../kernel/values.js';
import { kernelError } from '../kernel/errors.js';
import { asRequestError, fromRecord, MizanRequestError, toStoreError } from './errors.js';
import { EventSource, focusManager, onlineEvents, onlineManager, visibilityEvents } from './events.js';

export { MizanRequestError, asRequestError, toStoreError } from './errors.js';
export { httpTransport, INVALIDATE_HEADER } from './http.js';
export { tauriTransport, tauriError, TAURI_COMMAND } from './tauri.js';
export { channelTransport, serveChannel } from './channel.js';
export { EventSource, focusManager, onlineManager } from './events.js';

/** What a host answers its pending waiters with after a trap (the session that knew them is gone). */
const TRAP = { code: 'TRAP', message: 'The kernel trapped; the client started over' };

// TanStack-style option names → the session's config keys (snake_case keys are accepted as they
// are; anything else goes to the kernel, which refuses unknown keys).
const CONFIG_ALIASES = {
  staleTime: 'stale_time_ms',
  gcTime: 'gc_time_ms',
  retry: 'retries',
  retryBaseMs: 'retry_base_ms',
  retryMaxMs: 'retry_max_ms',
  maxInstances: 'max_instances',
  refetchOnWindowFocus: 'refetch_on_focus',
  refetchOnReconnect: 'refetch_on_reconnect',
  requestTimeoutMs: 'request_timeout_ms',
};
const CLIENT_OPTIONS = new Set(['transport', 'now', 'timers', 'window', 'document', 'hydrate', 'listen', 'onError']);

function sessionConfig(options) {
  const out = {};
  for (const [k, v] of Object.entries(options)) {
    if (CLIENT_OPTIONS.has(k) || v === undefined) continue;
    const name = CONFIG_ALIASES[k] ?? k;
    // `Infinity` (TanStack's "never"): the largest time the boundary takes exactly.
    out[name] = v === Infinity ? Number.MAX_SAFE_INTEGER : name === 'retries' && v === false ? 0 : v;
  }
  // Jitter source for retries (the kernel reads no randomness itself).
  if (out.seed === undefined) out.seed = Math.floor(Math.random() * Number.MAX_SAFE_INTEGER);
  return out;
}

/** What an instance looks like before it exists (a disabled query). */
export const IDLE_SNAPSHOT = Object.freeze({
  key: null,
  context: null,
  params: null,
  status: 'idle',
  data: undefined,
  error: null,
  isLoading: false,
  isFetching: false,
  isStale: false,
  isSuccess: false,
  isError: false,
  updatedAt: null,
  slotVersions: Object.freeze({}),
});

export const IDLE_MUTATION = Object.freeze({
  status: 'idle',
  isIdle: true,
  isPending: false,
  isSuccess: false,
  isError: false,
  data: undefined,
  error: null,
  variables: undefined,
});

/** The host's lookup of the kernel's key for one spelling of `(context, params)`. */
const memoKey = (context, params) => `${context}\u0000${JSON.stringify(params)}`;

function defaultReport(e) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(e);
  else setTimeout(() => {
    throw e;
  });
}

function checkParams(params) {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new TypeError('params must be an object');
  return params;
}

const instanceRef = (context, params) => ({ context, paramsJson: json('params', params) });

/**
 * The next snapshot of an instance from its view (only sent when something visible changed) and
 * the previous snapshot: slots the view carries no value for keep their previous objects, and the
 * bundle keeps its previous object when no slot changed.
 */
function snapshotOf(v, prev, held, context, params) {
  let data;
  let slotVersions = IDLE_SNAPSHOT.slotVersions;
  if (v.slots !== undefined) {
    const values = v.values;
    if (values.length === 0 && held !== undefined && Object.keys(held).length === v.slots.length) {
      // Every slot is one the host holds: the bundle keeps its object.
      data = held;
      slotVersions = prev?.data === held ? prev.slotVersions : versionsOf(v.slots);
    } else {
      data = {};
      slotVersions = {};
      let i = 0;
      for (const [slot, version] of v.slots) {
        slotVersions[slot] = Number(version);
        if (i < values.length && values[i][0] === slot) data[slot] = JSON.parse(values[i++][1]);
        else data[slot] = held[slot]; // the session only omits values the host holds
      }
    }
  }
  const record = v.error;
  const error = record ? (prev?.error && sameRecord(prev.error, record) ? prev.error : fromRecord(record)) : null;
  const status = v.status;
  return {
    key: v.key,
    context,
    params,
    status,
    data,
    error,
    isLoading: status === 'loading',
    isFetching: v.fetching,
    isStale: v.stale,
    isSuccess: status === 'success',
    isError: status === 'error',
    updatedAt: v.updatedAt === undefined ? null : Number(v.updatedAt),
    slotVersions,
  };
}

function versionsOf(slots) {
  const out = {};
  for (const [slot, version] of slots) out[slot] = Number(version);
  return out;
}

const sameRecord = (e, r) => e.code === r.code && e.message === r.message && JSON.stringify(e.details) === (r.detailsJson ?? 'null');

/**
 * `transport`: httpTransport(), tauriTransport(), channelTransport() or your own (`{request}` for
 * HTTP, or `{fetch, call, session?}`). Session options: `staleTime`, `gcTime`, `retry`,
 * `retryBaseMs`, `retryMaxMs`, `maxInstances`, `refetchOnWindowFocus`, `refetchOnReconnect`,
 * `requestTimeoutMs`, `seed` (or the snake_case keys of wit/session.wit). Host options: `now` (ms
 * clock), `timers` ({setTimeout, clearTimeout}), `window`/`document` (event targets; default the
 * `focusManager`/`onlineManager` sources), `listen` (false: no focus/online events), `hydrate` (a
 * dehydrated payload; default `window.__MIZAN_SSR_DATA__`), `onError`.
 */
export function createClient(options = {}) {
  const { transport } = options;
  const raw = typeof transport?.request === 'function';
  if (!transport || (!raw && (typeof transport.fetch !== 'function' || typeof transport.call !== 'function'))) {
    throw new TypeError('createClient({ transport }) needs a transport with request(), or fetch() and call()');
  }
  const now = options.now ?? Date.now;
  const timers = options.timers ?? { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t) };
  const win = options.window !== undefined ? options.window : typeof window !== 'undefined' ? window : null;
  const report = options.onError ?? defaultReport;
  const { runtime, ClientSession } = clientKernel();
  // Requests in the form the transport speaks: HTTP, or operations (IPC, channels, your own).
  const session = new ClientSession({ ...sessionConfig(options), transport: raw ? 'http' : 'operation' });
  let generation = runtime.generation();

  const registrations = new Set(); // every live subscribe() call: what a restart replays
  // key → {snap, seed, regs}: the public snapshot (the views, applied), the {context, params,
  // data} this client hydrated the instance with (until its first view), the registrations
  // bound to it. One map, so applying and delivering a view looks its key up once.
  const entries = new Map();
  const memo = new Map(); // memoKey → key
  const memoByKey = new Map(); // key → Set<memoKey>
  const waiters = new Map(); // waiter id → {kind, resolve, reject}
  const queue = []; // events for the next update (subscriptions and answers are batched)
  const owners = []; // per queued event: its registration (subscribe) or null
  const outbox = []; // [entry, snapshot, …] to deliver, in order
  let nextWaiter = 1;
  let lastSession = { text: undefined, body: undefined }; // the last session body, parsed once
  let started = false;
  let scheduled = false;
  let delivering = false;
  let timer = null;
  let closed = false;

  const guard = (fn) => {
    try {
      fn();
    } catch (e) {
      report(e);
    }
  };

  function remember(mk, key) {
    if (memo.get(mk) === key) return;
    memo.set(mk, key);
    let set = memoByKey.get(key);
    if (!set) memoByKey.set(key, (set = new Set()));
    set.add(mk);
  }

  function forget(key) {
    const set = memoByKey.get(key);
    if (!set) return;
    for (const mk of set) if (memo.get(mk) === key) memo.delete(mk);
    memoByKey.delete(key);
  }

  function entry(key) {
    let e = entries.get(key);
    if (e === undefined) entries.set(key, (e = { snap: undefined, seed: undefined, regs: undefined }));
    return e;
  }

  /** Drop an entry that holds nothing any more. */
  function prune(key, e) {
    if (e.snap === undefined && e.seed === undefined && e.regs === undefined) entries.delete(key);
  }

  const snapshotOfKey = (key) => entries.get(key)?.snap;

  function bind(reg, key) {
    reg.key = key;
    remember(reg.memo, key);
    const e = entry(key);
    (e.regs ??= new Set()).add(reg);
  }

  function unbind(reg) {
    const e = reg.key === null ? undefined : entries.get(reg.key);
    if (e?.regs === undefined) return;
    e.regs.delete(reg);
    if (e.regs.size === 0) {
      e.regs = undefined;
      prune(reg.key, e);
    }
  }

  // ---- one update --------------------------------------------------------------------------

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      if (!closed) guard(() => send([]));
    });
  }

  /**
   * The queued events and `events` in one `update`; performs the output and returns the results
   * of `events`. `quiet`: apply the views now but perform the rest on a microtask (getSnapshot
   * runs during a render, which must not notify other components).
   */
  function send(events, quiet = false) {
    checkGeneration();
    const all = [];
    const regs = [];
    for (let i = 0; i < queue.length; i++) {
      all.push(queue[i]);
      regs.push(owners[i]);
    }
    queue.length = 0;
    owners.length = 0;
    const base = all.length;
    for (const e of events) all.push(e);
    if (all.length === 0) return [];
    let out;
    try {
      out = session.update(all, now());
    } catch (e) {
      // A trap in this very update: its waiters are failed and the subscriptions replayed.
      if (e instanceof MizanKernelError && e.code === 'trap') {
        checkGeneration();
        schedule();
      }
      throw e;
    }
    for (let i = 0; i < base; i++) {
      const reg = regs[i];
      if (reg === null) continue;
      const r = out.results[i];
      reg.sent = true;
      if (r.tag === 'ok') bind(reg, r.val);
      else report(kernelError(r.val));
    }
    for (const v of out.views) applyView(v);
    if (quiet) queueMicrotask(() => guard(() => perform(out)));
    else perform(out);
    return base === 0 ? out.results : out.results.slice(base);
  }

  function applyView(v) {
    const key = v.key;
    if (v.gone) {
      const e = entries.get(key);
      if (e !== undefined) {
        e.snap = undefined;
        e.seed = undefined;
        prune(key, e);
      }
      forget(key);
      return;
    }
    const e = entry(key);
    const prev = e.snap;
    const seed = prev === undefined ? e.seed : undefined;
    let context = prev?.context ?? seed?.context ?? null;
    let params = prev?.params ?? seed?.params ?? null;
    if (v.instance !== undefined) {
      context = v.instance.context;
      params = JSON.parse(v.instance.paramsJson);
      remember(memoKey(context, params), key);
    }
    const next = snapshotOf(v, prev, prev?.data ?? seed?.data, context, params);
    e.seed = undefined;
    e.snap = next;
    outbox.push(e, next);
  }

  /** The rest of an output: requests, settlements, the timer, then the listeners. */
  function perform(out) {
    for (const r of out.requests) request(r);
    for (const s of out.settled) settle(s);
    if (out.timer !== undefined) setTimer(out.timer);
    deliver();
    applyRef();
  }

  function deliver() {
    if (delivering) return; // the running loop picks up what this update added
    delivering = true;
    try {
      for (let i = 0; i < outbox.length; i += 2) {
        const regs = outbox[i].regs;
        if (regs === undefined) continue;
        const snap = outbox[i + 1];
        for (const reg of regs) {
          try {
            reg.listener(snap);
          } catch (e) {
            report(e);
          }
        }
      }
    } finally {
      outbox.length = 0;
      delivering = false;
    }
  }

  // ---- requests ----------------------------------------------------------------------------

  const answerEvent = (id, outcome) => ({ tag: 'answer', val: { request: id, outcome } });
  const failed = (e) => ({ tag: 'failed', val: JSON.stringify(toStoreError(e)) });

  /** A decoded answer, or `unusable` when it has no JSON form (undefined, NaN…). */
  function decoded(body, invalidate) {
    try {
      return { tag: 'decoded', val: { bodyJson: json('answer', body), invalidate: invalidate ?? undefined } };
    } catch (x) {
      return { tag: 'unusable', val: x instanceof Error ? x.message : String(x) };
    }
  }

  /** The session's HTTP request as `transport.request` takes it. */
  const httpRequest = (h, timeoutMs) => ({ method: h.method.toUpperCase(), path: h.path, headers: h.headers, body: h.body, timeoutMs });

  function byOperation(op) {
    switch (op.tag) {
      case 'fetch': {
        const f = op.val;
        // The params of an instance this client holds are parsed already (its snapshot's).
        const params = snapshotOfKey(f.key)?.params ?? JSON.parse(f.paramsJson);
        return transport.fetch({ key: f.key, context: f.context, params, query: f.query });
      }
      case 'call': {
        const c = op.val;
        return transport.call({ fn: c.function, args: JSON.parse(c.argsJson), csrfToken: c.csrfToken ?? null });
      }
      default:
        return transport.session ? transport.session() : { csrfToken: null };
    }
  }

  function outcomeOf(kind, v) {
    if (raw) {
      if (v === null || typeof v !== 'object' || typeof v.status !== 'number') return { tag: 'unusable', val: 'not an HTTP answer' };
      return { tag: 'http', val: { status: v.status, body: typeof v.body === 'string' ? v.body : '', invalidate: v.invalidate ?? undefined } };
    }
    if (kind === 'call') return v !== null && typeof v === 'object' ? decoded(v.body, v.header) : { tag: 'unusable', val: String(v) };
    return decoded(v);
  }

  function request(r) {
    const gen = generation;
    let p;
    try {
      p = Promise.resolve(raw ? transport.request(httpRequest(r.http, Number(r.timeoutMs))) : byOperation(r.op));
    } catch (e) {
      p = Promise.reject(e);
    }
    const answer = (outcome) => {
      // Ids of a session that trapped meanwhile mean nothing to its replacement.
      if (closed || gen !== generation) return;
      queue.push(answerEvent(r.id, outcome));
      owners.push(null);
      schedule();
    };
    p.then((v) => answer(outcomeOf(r.kind, v)), (e) => answer(failed(e)));
  }

  // ---- waiters, timer ----------------------------------------------------------------------

  function settle({ waiter, outcome }) {
    const w = waiters.get(Number(waiter));
    if (!w) return;
    waiters.delete(Number(waiter));
    if (outcome.tag === 'err') return w.reject(fromRecord(outcome.val));
    const text = outcome.val;
    if (w.kind === 'fetch') return w.resolve(snapshotOfKey(text)?.data);
    if (w.kind === 'start') {
      // One object per session body: `start()` twice gives the same object.
      if (lastSession.text !== text) lastSession = { text, body: JSON.parse(text) };
      return w.resolve(lastSession.body);
    }
    return w.resolve(JSON.parse(text));
  }

  /** A promise settled by the session; `make(id)` is the event that creates the waiter. */
  function wait(kind, make) {
    const id = nextWaiter++;
    const promise = new Promise((resolve, reject) => waiters.set(id, { kind, resolve, reject }));
    try {
      live();
      const [r] = send([make(id)]);
      if (r.tag === 'err') throw kernelError(r.val);
    } catch (e) {
      const w = waiters.get(id);
      if (w) {
        waiters.delete(id);
        w.reject(e);
      }
    }
    applyRef();
    return promise;
  }

  function setTimer(t) {
    if (timer !== null) timers.clearTimeout(timer);
    // `delay-ms` is below 2^31 (the kernel clamps it); an early wake-up just ticks and reschedules.
    timer = timers.setTimeout(onTimer, Number(t.delayMs));
  }

  function onTimer() {
    timer = null;
    if (closed) return;
    guard(() => send([{ tag: 'tick' }]));
  }

  // Node: a pending gc timer must not keep a finished script alive; retries of observed or
  // awaited instances must.
  function applyRef() {
    if (timer === null || typeof timer !== 'object') return;
    if (registrations.size > 0 || waiters.size > 0) timer.ref?.();
    else timer.unref?.();
  }

  // ---- traps: keep the subscription list, start a new session, replay it -------------------

  function checkGeneration() {
    const g = runtime.generation();
    if (g === generation) return;
    generation = g;
    entries.clear();
    memo.clear();
    memoByKey.clear();
    outbox.length = 0;
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    const pending = [...waiters.values()];
    waiters.clear();
    for (const w of pending) w.reject(new MizanRequestError(TRAP));
    // The session object comes back empty in the new instance; replay into it.
    queue.length = 0;
    owners.length = 0;
    if (started) {
      queue.push({ tag: 'start', val: undefined });
      owners.push(null);
    }
    for (const reg of registrations) {
      reg.key = null;
      queue.push({ tag: 'subscribe', val: reg.ref });
      owners.push(reg);
    }
  }

  function live() {
    if (closed) throw new Error('@mizan/kernel-wasm: this client is closed');
  }

  /** Send one event now; throws the kernel's refusal. */
  function run(event) {
    live();
    const [r] = send([event]);
    if (r.tag === 'err') throw kernelError(r.val);
    return r.val;
  }

  // ---- focus and online --------------------------------------------------------------------

  const detach = [];
  if (options.listen !== false) {
    const focus = options.document !== undefined ? new EventSource(visibilityEvents(options.document)) : focusManager;
    const online = options.window !== undefined ? new EventSource(onlineEvents(options.window)) : onlineManager;
    detach.push(focus.subscribe(() => client.focus()), online.subscribe(() => client.online()));
  }

  // ---- the API -----------------------------------------------------------------------------

  const client = {
    transport,

    /** Observe `(context, params)`; `listener(snapshot)` runs when its snapshot changes. */
    subscribe(context, params, listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      if (closed) return () => {};
      const p = checkParams(params ?? {});
      const ref = instanceRef(context, p);
      const reg = { ref, memo: memoKey(context, p), listener, key: null, active: true, sent: false };
      registrations.add(reg);
      const known = memo.get(reg.memo);
      if (known !== undefined) bind(reg, known);
      // Batched: a render that mounts many observers sends one update, not one each.
      queue.push({ tag: 'subscribe', val: ref });
      owners.push(reg);
      schedule();
      return () => {
        if (!reg.active) return;
        // The kernel sees every subscription, even one that ends at once: its instance exists
        // and its fetch starts (TanStack's observers behave the same).
        if (!closed && !reg.sent) guard(() => send([]));
        reg.active = false;
        registrations.delete(reg);
        unbind(reg);
        if (closed || !reg.sent || reg.key === null) return;
        queue.push({ tag: 'unsubscribe', val: reg.key });
        owners.push(null);
        schedule();
      };
    },

    /**
     * The current snapshot: the same object until the instance changes (what
     * useSyncExternalStore needs). An instance not seen before is created (as `prefetch`).
     */
    getSnapshot(context, params) {
      if (closed) return IDLE_SNAPSHOT;
      checkGeneration();
      const p = params ?? {};
      const mk = memoKey(context, p);
      const known = memo.get(mk);
      if (known !== undefined) {
        const s = snapshotOfKey(known);
        if (s !== undefined) return s;
      }
      const [r] = send([{ tag: 'view', val: instanceRef(context, checkParams(p)) }], true);
      if (r.tag === 'err') throw kernelError(r.val);
      remember(mk, r.val);
      return snapshotOfKey(r.val) ?? IDLE_SNAPSHOT;
    },

    /** The bundle: cached data when it is fresh, else the next settled fetch (TanStack's fetchQuery). */
    fetch(context, params) {
      return wait('fetch', (waiter) => ({ tag: 'fetch', val: { waiter, instance: instanceRef(context, checkParams(params ?? {})), force: false } }));
    },

    /** Warm the cache without observing (collected after gcTime). */
    prefetch(context, params) {
      remember(memoKey(context, params ?? {}), run({ tag: 'prefetch', val: instanceRef(context, checkParams(params ?? {})) }));
    },

    /** Fetch now (unless a fetch is running); resolves with the bundle once it settles. */
    refetch(context, params) {
      return wait('fetch', (waiter) => ({ tag: 'fetch', val: { waiter, instance: instanceRef(context, checkParams(params ?? {})), force: true } }));
    },

    /** Run a server function; resolves with its result once merges and invalidations are applied. */
    mutate(fn, args = {}, { optimistic } = {}) {
      return wait('call', (waiter) => {
        const entries = typeof optimistic === 'function' ? optimistic(args) : optimistic;
        return { tag: 'call', val: { waiter, function: fn, argsJson: json('args', args), optimisticJson: optJson('optimistic', entries) } };
      });
    },

    /** A mutation observer: `{mutate, mutateAsync, subscribe, getSnapshot, reset, setOptions}`. */
    mutation(fn, mutationOptions) {
      return createMutationObserver(client, fn, mutationOptions, report);
    },

    /** Mark matching instances stale (`"ctx"` or `{context, params?}` entries); observed ones refetch. */
    invalidate(entries) {
      run({ tag: 'invalidate', val: json('entries', Array.isArray(entries) ? entries : [entries]) });
    },

    /** Drop data of matching instances at once (all without `entries`). */
    remove(entries) {
      run({ tag: 'remove', val: entries === undefined || entries === null ? undefined : json('entries', Array.isArray(entries) ? entries : [entries]) });
    },

    /** Identity changed (login, logout): drop every instance's data, fail pending calls and fetches (`RESET`), new session. */
    reset() {
      run({ tag: 'reset' });
    },

    /**
     * `GET /session/` (the CSRF token calls carry; calls wait for it). Resolves with the session
     * body; retried like a fetch (network errors, 5xx), rejected at once otherwise. Never needed
     * before rendering: do not await it at the top level.
     */
    start() {
      started = true;
      return wait('start', (waiter) => ({ tag: 'start', val: waiter }));
    },

    /** `{version: 1, instances: [{context, params, data}]}`: put it in `window.__MIZAN_SSR_DATA__`. */
    dehydrate() {
      live();
      send([]);
      return session.dehydrate();
    },

    /** Seed the cache from a dehydrated payload (JSON data); its values stay the payload's objects. */
    hydrate(payload) {
      const seeded = JSON.parse(run({ tag: 'hydrate', val: { payloadJson: json('payload', payload), held: true } }));
      const items = payload.instances;
      for (let i = 0; i < seeded.length; i++) {
        if (seeded[i] === null) continue;
        const { context, params, data } = items[i];
        entry(seeded[i]).seed = { context, params: params ?? {}, data };
      }
    },

    /** The window regained focus: stale observed instances refetch. */
    focus() {
      if (!closed) run({ tag: 'focus' });
    },

    /** The network came back: stale observed instances refetch, waiting retries go at once. */
    online() {
      if (!closed) run({ tag: 'online' });
    },

    instanceCount() {
      live();
      send([]);
      return session.instanceCount();
    },

    /** Stop the timer and listeners, fail pending promises (`CLOSED`), free the session. */
    close() {
      if (closed) return;
      guard(() => send([{ tag: 'close' }]));
      closed = true;
      for (const d of detach) d();
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      const pending = [...waiters.values()];
      waiters.clear();
      for (const w of pending) w.reject(new MizanRequestError({ code: 'CLOSED', message: 'The client was closed' }));
      registrations.clear();
      entries.clear();
      session.free();
    },
  };

  const ssr = options.hydrate !== undefined ? options.hydrate : win?.__MIZAN_SSR_DATA__;
  if (ssr !== undefined && ssr !== null) {
    try {
      client.hydrate(ssr);
    } catch (e) {
      if (options.hydrate !== undefined) throw e;
      report(e); // a bad page payload must not break the app: it just starts empty
    }
  }
  return client;
}

function createMutationObserver(client, fn, initialOptions, report) {
  let options = initialOptions ?? {};
  let state = IDLE_MUTATION;
  let seq = 0;
  const listeners = new Set();
  const set = (s) => {
    state = s;
    for (const l of listeners) {
      try {
        l(s);
      } catch (e) {
        report(e);
      }
    }
  };
  const call = (cb, ...args) => {
    if (typeof cb !== 'function') return;
    try {
      cb(...args);
    } catch (e) {
      report(e);
    }
  };
  const mutateAsync = (args = {}, callOptions = {}) => {
    const mine = ++seq;
    const o = { ...options, ...callOptions };
    set({ ...IDLE_MUTATION, status: 'pending', isIdle: false, isPending: true, variables: args });
    return client.mutate(fn, args, { optimistic: o.optimistic }).then(
      (data) => {
        if (mine === seq) set({ ...IDLE_MUTATION, status: 'success', isIdle: false, isSuccess: true, data, variables: args });
        call(o.onSuccess, data, args);
        call(o.onSettled, data, null, args);
        return data;
      },
      (error) => {
        if (mine === seq) set({ ...IDLE_MUTATION, status: 'error', isIdle: false, isError: true, error, variables: args });
        call(o.onError, error, args);
        call(o.onSettled, undefined, error, args);
        throw error;
      },
    );
  };
  return {
    fn,
    mutateAsync,
    /** Like mutateAsync, but failures only land in the state (and onError): never an unhandled rejection. */
    mutate: (args, callOptions) => mutateAsync(args, callOptions).catch(() => undefined),
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    getSnapshot: () => state,
    reset: () => {
      seq++;
      set(IDLE_MUTATION);
    },
    setOptions: (o) => {
      options = o ?? {};
    },
  };
}
