// The client that drives the kernel store (KERNEL.md §7, wit/store.wit) in a JS host: it performs
// the store's effects through a transport, owns the one timer, forwards focus/online, notifies
// subscribers of the instances whose snapshot changed, and keeps object identity of unchanged
// slots (structural sharing by slot version). It holds no cache logic: staleness, matching,
// de-duplication, retries, coalescing, optimistic rollback and gc are the kernel's decisions.
import { Store, instanceGeneration } from '../index.js';
import { asRequestError, fromStoreError, MizanRequestError, toStoreError } from './errors.js';

export { MizanRequestError, asRequestError, toStoreError } from './errors.js';
export { httpTransport, INVALIDATE_HEADER } from './http.js';
export { tauriTransport, tauriError, TAURI_COMMAND } from './tauri.js';
export { channelTransport, serveChannel } from './channel.js';

// TanStack-style option names → the store's config keys (snake_case keys are accepted as they
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
};
const CLIENT_OPTIONS = new Set(['transport', 'now', 'timers', 'window', 'document', 'hydrate', 'listen', 'onError']);

function storeConfig(options) {
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

const memoKey = (context, params) => `${context}\u0000${JSON.stringify(params ?? {})}`;

function defaultReport(e) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(e);
  else setTimeout(() => {
    throw e;
  });
}

const invalidResponse = (x) => ({
  status: 502,
  code: 'INVALID_RESPONSE',
  message: `The transport's answer is not usable: ${x instanceof Error ? x.message : String(x)}`,
});

const sameError = (a, raw) => a.code === raw.code && a.message === raw.message && JSON.stringify(a.details) === JSON.stringify(raw.details ?? null);

/**
 * Reuse the previous slot objects whose version did not change (versions are unique across the
 * store, so an equal version is an equal value), and the previous bundle when every slot did.
 */
function share(data, versions, prev) {
  const prevData = prev.data;
  const prevVersions = prev.slotVersions;
  let same = true;
  let n = 0;
  for (const slot of Object.keys(data)) {
    n++;
    const v = versions[slot];
    if (v !== undefined && prevVersions[slot] === v && Object.hasOwn(prevData, slot)) data[slot] = prevData[slot];
    else same = false;
  }
  return same && n === Object.keys(prevData).length ? prevData : data;
}

/** The public snapshot from the kernel's; the previous object when nothing visible changed. */
function build(raw, prev) {
  let data = raw.data ?? undefined;
  const versions = raw.slot_versions ?? {};
  if (data !== undefined && prev && prev.data !== undefined) data = share(data, versions, prev);
  const error = raw.error ? (prev?.error && sameError(prev.error, raw.error) ? prev.error : fromStoreError(raw.error)) : null;
  const status = raw.status;
  const isFetching = raw.is_fetching;
  const isStale = raw.is_stale;
  const updatedAt = raw.updated_at ?? null;
  if (
    prev &&
    prev.status === status &&
    prev.isFetching === isFetching &&
    prev.isStale === isStale &&
    prev.updatedAt === updatedAt &&
    prev.data === data &&
    prev.error === error
  ) {
    return prev;
  }
  return {
    key: raw.key,
    context: raw.context,
    params: prev ? prev.params : raw.params,
    status,
    data,
    error,
    isLoading: status === 'loading',
    isFetching,
    isStale,
    isSuccess: status === 'success',
    isError: status === 'error',
    updatedAt,
    slotVersions: prev && data === prev.data ? prev.slotVersions : versions,
  };
}

/**
 * `transport`: httpTransport(), tauriTransport(), channelTransport() or your own `{fetch, call,
 * session?}`. Store options: `staleTime`, `gcTime`, `retry`, `retryBaseMs`, `retryMaxMs`,
 * `maxInstances`, `refetchOnWindowFocus`, `refetchOnReconnect`, `seed` (or the snake_case keys
 * of wit/store.wit). Host options: `now` (ms clock), `timers` ({setTimeout, clearTimeout}),
 * `window`/`document` (event targets; default the globals), `listen` (false: no focus/online
 * listeners), `hydrate` (a dehydrated payload; default `window.__MIZAN_SSR_DATA__`), `onError`.
 */
export function createClient(options = {}) {
  const { transport } = options;
  if (!transport || typeof transport.fetch !== 'function' || typeof transport.call !== 'function') {
    throw new TypeError('createClient({ transport }) needs a transport with fetch() and call()');
  }
  const now = options.now ?? Date.now;
  const timers = options.timers ?? { setTimeout: (f, ms) => setTimeout(f, ms), clearTimeout: (t) => clearTimeout(t) };
  const win = options.window !== undefined ? options.window : typeof window !== 'undefined' ? window : null;
  const doc = options.document !== undefined ? options.document : typeof document !== 'undefined' ? document : null;
  const report = options.onError ?? defaultReport;
  const store = Store.create(storeConfig(options));
  let generation = instanceGeneration();

  const subs = new Map(); // key → {context, params, count, listeners: Set}
  const snapshots = new Map(); // key → public snapshot
  const memo = new Map(); // memoKey(context, params) → key: a lookup of the kernel's answer, nothing more
  const memoByKey = new Map(); // key → Set<memoKey>
  const waiters = new Map(); // key → Set<{resolve, reject}> (fetch / refetch promises)
  const mutations = new Map(); // mutation id → {resolve, reject, error}
  const settled = []; // [key, ok, …] fetch results fed back since the last flush
  let session = { state: 'none', body: undefined, error: undefined, waiting: [] };
  let started = false;
  let timer = null;
  let flushing = false;
  let again = false;
  let queued = false;
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

  function refresh(key, t) {
    const prev = snapshots.get(key);
    const raw = store.snapshot(key, t);
    if (raw === null) {
      snapshots.delete(key);
      forget(key);
      return null;
    }
    const next = build(raw, prev);
    if (next !== prev) snapshots.set(key, next);
    if (!prev) remember(memoKey(raw.context, raw.params), key);
    return next;
  }

  // ---- effects ---------------------------------------------------------------------------

  function request(start, ok, fail) {
    let p;
    try {
      p = Promise.resolve(start());
    } catch (e) {
      p = Promise.reject(e);
    }
    const gen = generation;
    const done = (fn, v) => {
      if (closed) return;
      // Ids of a store that trapped meanwhile mean nothing to its replacement.
      if (gen === generation) guard(() => fn(v));
      flush();
    };
    p.then((v) => done(ok, v), (e) => done(fail, e));
  }

  function perform(e) {
    switch (e.type) {
      case 'fetch': {
        const { key } = e;
        request(
          () => transport.fetch({ key, context: e.context, params: e.params, query: e.query }),
          (body) => {
            try {
              store.fetchOk(e.request_id, body, now());
            } catch (x) {
              // Not representable as JSON (a transport returned undefined, NaN…): a bad answer.
              store.fetchErr(e.request_id, invalidResponse(x), now());
            }
            settled.push(key, true);
          },
          (err) => {
            store.fetchErr(e.request_id, toStoreError(err), now());
            settled.push(key, false);
          },
        );
        break;
      }
      case 'call': {
        const pending = mutations.get(e.mutation_id);
        request(
          () => transport.call({ fn: e.fn, args: e.args, csrfToken: e.csrf_token ?? null }),
          (r) => {
            try {
              store.callOk(e.request_id, r?.body, r?.header ?? null);
            } catch (x) {
              // The kernel failed the mutation itself (INVALID_RESPONSE) unless the body never
              // reached it (not representable as JSON): then fail it here.
              if (store.mutation(e.mutation_id)?.status === 'pending') store.callErr(e.request_id, invalidResponse(x));
            }
          },
          (err) => {
            if (pending) pending.error = asRequestError(err);
            store.callErr(e.request_id, toStoreError(err));
          },
        );
        break;
      }
      case 'session': {
        session.state = 'pending';
        request(
          () => (transport.session ? transport.session() : { csrfToken: null }),
          (body) => {
            store.sessionOk(e.request_id, body ?? {});
            finishSession('ok', body ?? {});
          },
          (err) => finishSession('failed', asRequestError(err)),
        );
        break;
      }
      case 'schedule':
        if (timer !== null) timers.clearTimeout(timer);
        // `delay_ms` is below 2^31 (the kernel clamps it); an early wake-up just ticks and reschedules.
        timer = timers.setTimeout(onTimer, e.delay_ms);
        break;
      default:
        report(new Error(`@mizan/kernel-wasm: unknown store effect ${e.type}`));
    }
  }

  function finishSession(state, value) {
    session.state = state;
    if (state === 'ok') session.body = value;
    else session.error = value;
    const waiting = session.waiting;
    session.waiting = [];
    for (const w of waiting) state === 'ok' ? w.resolve(value) : w.reject(value);
  }

  function onTimer() {
    timer = null;
    if (closed) return;
    guard(() => store.tick(now()));
    flush();
  }

  // Node: a pending gc timer must not keep a finished script alive; retries of observed or
  // awaited instances must.
  function applyRef() {
    if (timer === null || typeof timer !== 'object') return;
    if (subs.size > 0 || waiters.size > 0 || mutations.size > 0) timer.ref?.();
    else timer.unref?.();
  }

  // ---- the loop ----------------------------------------------------------------------------

  function deliver(key, snap) {
    const sub = subs.get(key);
    if (!sub) return;
    for (const l of sub.listeners) {
      try {
        l(snap);
      } catch (e) {
        report(e);
      }
    }
  }

  function settleWaiters(key) {
    const ws = waiters.get(key);
    if (!ws) return;
    const s = snapshots.get(key);
    let outcome;
    if (!s) outcome = () => new MizanRequestError({ code: 'REMOVED', message: 'The instance was removed before its fetch settled' });
    else if (s.isFetching) return; // refetching (an invalidation landed during the fetch): wait for that one
    else if (s.status === 'success') outcome = null;
    else if (s.status === 'error') outcome = () => s.error;
    else return; // a retry is scheduled
    waiters.delete(key);
    for (const w of ws) outcome ? w.reject(outcome()) : w.resolve(s.data);
  }

  function settleMutation(id) {
    const p = mutations.get(id);
    if (!p) return;
    const m = store.mutation(id);
    if (m === null) {
      mutations.delete(id);
      p.reject(new MizanRequestError({ code: 'RESET', message: 'The client was reset before the call settled' }));
      return;
    }
    if (m.status === 'pending') return;
    mutations.delete(id);
    store.releaseMutation(id);
    if (m.status === 'success') p.resolve(m.result);
    // The transport's own error when there was one (it knows the HTTP status), else the kernel's.
    else p.reject(p.error ?? fromStoreError(m.error));
  }

  function flush() {
    if (closed) return;
    if (flushing) {
      again = true;
      return;
    }
    flushing = true;
    try {
      do {
        again = false;
        checkGeneration();
        const t = now();
        const d = store.drain(t);
        for (const e of d.effects) perform(e);
        const changed = [];
        for (const key of d.changed) {
          const prev = snapshots.get(key);
          const next = refresh(key, t);
          if (next !== null && next !== prev) changed.push(key, next);
        }
        for (let i = 0; i < changed.length; i += 2) deliver(changed[i], changed[i + 1]);
        const done = settled.splice(0);
        for (let i = 0; i < done.length; i += 2) settleWaiters(done[i]);
        for (const id of d.mutations) settleMutation(id);
      } while (again && !closed);
    } catch (e) {
      report(e);
    } finally {
      flushing = false;
      applyRef();
    }
  }

  function queueFlush() {
    if (queued) return;
    queued = true;
    queueMicrotask(() => {
      queued = false;
      flush();
    });
  }

  /** The kernel instance trapped and was replaced: the store is empty (as after reset()). */
  function checkGeneration() {
    const g = instanceGeneration();
    if (g === generation) return;
    generation = g;
    snapshots.clear();
    memo.clear();
    memoByKey.clear();
    settled.length = 0;
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    const err = () => new MizanRequestError({ code: 'TRAP', message: 'The kernel trapped; the client store started over' });
    failAll(err);
    if (started) {
      session = { state: 'none', body: undefined, error: undefined, waiting: session.waiting };
      store.start();
    }
    const t = now();
    for (const sub of subs.values()) for (let i = 0; i < sub.count; i++) store.subscribe(sub.context, sub.params, t);
  }

  function failAll(makeError) {
    for (const ws of waiters.values()) for (const w of ws) w.reject(makeError());
    waiters.clear();
    for (const p of mutations.values()) p.reject(makeError());
    mutations.clear();
  }

  function wait(key) {
    return new Promise((resolve, reject) => {
      let ws = waiters.get(key);
      if (!ws) waiters.set(key, (ws = new Set()));
      ws.add({ resolve, reject });
      applyRef();
    });
  }

  /** The instance key the kernel gives `(context, params)`; creating the instance (prefetch) on first sight. */
  function keyOf(context, params) {
    const mk = memoKey(context, params);
    let key = memo.get(mk);
    if (key === undefined) {
      key = store.prefetch(context, params ?? {}, now());
      remember(mk, key);
      queueFlush();
    }
    return key;
  }

  function live() {
    if (closed) throw new Error('@mizan/kernel-wasm: this client is closed');
    checkGeneration();
  }

  // ---- browser events ----------------------------------------------------------------------

  const detach = [];
  if (options.listen !== false) {
    if (doc && typeof doc.addEventListener === 'function') {
      const onVisibility = () => {
        if (doc.visibilityState !== 'hidden') client.focus();
      };
      doc.addEventListener('visibilitychange', onVisibility);
      detach.push(() => doc.removeEventListener('visibilitychange', onVisibility));
    }
    if (win && typeof win.addEventListener === 'function') {
      const onOnline = () => client.online();
      win.addEventListener('online', onOnline);
      detach.push(() => win.removeEventListener('online', onOnline));
    }
  }

  // ---- the API -----------------------------------------------------------------------------

  const client = {
    transport,

    /** Observe `(context, params)`; `listener(snapshot)` runs when its snapshot changes. */
    subscribe(context, params, listener) {
      if (typeof listener !== 'function') throw new TypeError('listener must be a function');
      if (closed) return () => {};
      live();
      const p = params ?? {};
      const key = store.subscribe(context, p, now());
      remember(memoKey(context, p), key);
      let sub = subs.get(key);
      if (!sub) subs.set(key, (sub = { context, params: p, count: 0, listeners: new Set() }));
      sub.count++;
      const entry = (s) => listener(s);
      sub.listeners.add(entry);
      // Batched: a render that mounts many observers pays for one drain, not one each (a drain
      // costs O(instances) in the kernel). getSnapshot reads the kernel directly meanwhile.
      queueFlush();
      let active = true;
      return () => {
        if (!active) return;
        active = false;
        sub.listeners.delete(entry);
        sub.count--;
        if (sub.count === 0 && subs.get(key) === sub) subs.delete(key);
        if (closed) return;
        checkGeneration();
        store.unsubscribe(key, now());
        queueFlush();
      };
    },

    /**
     * The current snapshot: the same object until the instance changes (what
     * useSyncExternalStore needs). An instance not seen before is created (as `prefetch`).
     */
    getSnapshot(context, params) {
      if (closed) return IDLE_SNAPSHOT;
      live();
      const key = keyOf(context, params);
      return snapshots.get(key) ?? refresh(key, now()) ?? IDLE_SNAPSHOT;
    },

    /** The bundle: cached data when it is fresh, else the next successful fetch (TanStack's fetchQuery). */
    fetch(context, params) {
      try {
        live();
        const p = params ?? {};
        const key = store.prefetch(context, p, now());
        remember(memoKey(context, p), key);
        flush();
        const s = snapshots.get(key) ?? refresh(key, now());
        if (s && s.status === 'success' && !s.isFetching) return Promise.resolve(s.data);
        return wait(key);
      } catch (e) {
        return Promise.reject(e);
      }
    },

    /** Warm the cache without observing (collected after gcTime). */
    prefetch(context, params) {
      live();
      const p = params ?? {};
      remember(memoKey(context, p), store.prefetch(context, p, now()));
      flush();
    },

    /** Fetch now (unless a fetch is running); resolves with the bundle once it settles. */
    refetch(context, params) {
      try {
        live();
        const key = keyOf(context, params);
        store.refetch(key);
        const w = wait(key);
        flush();
        return w;
      } catch (e) {
        return Promise.reject(e);
      }
    },

    /** Run a server function; resolves with its result once merges and invalidations are applied. */
    mutate(fn, args = {}, { optimistic } = {}) {
      try {
        live();
        const entries = typeof optimistic === 'function' ? optimistic(args) : optimistic;
        const id = store.mutate(fn, args, entries ?? null);
        const promise = new Promise((resolve, reject) => mutations.set(id, { resolve, reject, error: null }));
        flush();
        return promise;
      } catch (e) {
        return Promise.reject(e);
      }
    },

    /** A mutation observer: `{mutate, mutateAsync, subscribe, getSnapshot, reset, setOptions}`. */
    mutation(fn, mutationOptions) {
      return createMutationObserver(client, fn, mutationOptions, report);
    },

    /** Mark matching instances stale (`"ctx"` or `{context, params?}` entries); observed ones refetch. */
    invalidate(entries) {
      live();
      store.invalidate(Array.isArray(entries) ? entries : [entries]);
      flush();
    },

    /** Drop data of matching instances at once (all without `entries`). */
    remove(entries) {
      live();
      store.remove(entries === undefined || entries === null ? null : Array.isArray(entries) ? entries : [entries]);
      flush();
    },

    /** Identity changed (login, logout): drop every instance's data, fail pending calls, new session. */
    reset() {
      live();
      store.reset();
      const err = () => new MizanRequestError({ code: 'RESET', message: 'The client was reset before the fetch settled' });
      for (const ws of waiters.values()) for (const w of ws) w.reject(err());
      waiters.clear();
      flush();
    },

    /** `GET /session/` once (the CSRF token for calls). Resolves with the session body. */
    start() {
      if (closed) return Promise.reject(new Error('@mizan/kernel-wasm: this client is closed'));
      live();
      started = true;
      return new Promise((resolve, reject) => {
        if (session.state === 'ok') return resolve(session.body);
        if (session.state === 'failed') return reject(session.error);
        session.waiting.push({ resolve, reject });
        store.start();
        flush();
      });
    },

    /** `{version: 1, instances: [{context, params, data}]}`: put it in `window.__MIZAN_SSR_DATA__`. */
    dehydrate() {
      live();
      return store.dehydrate();
    },

    hydrate(payload) {
      live();
      store.hydrate(payload, now());
      flush();
    },

    /** The window regained focus: stale observed instances refetch. */
    focus() {
      if (closed) return;
      live();
      store.focus(now());
      flush();
    },

    /** The network came back: stale observed instances refetch, waiting retries go at once. */
    online() {
      if (closed) return;
      live();
      store.online(now());
      flush();
    },

    instanceCount() {
      live();
      return store.instanceCount();
    },

    /** Stop timers and listeners, fail pending promises, free the kernel store. */
    close() {
      if (closed) return;
      closed = true;
      for (const d of detach) d();
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      failAll(() => new MizanRequestError({ code: 'CLOSED', message: 'The client was closed' }));
      subs.clear();
      store.free();
    },
  };

  const ssr = options.hydrate !== undefined ? options.hydrate : win?.__MIZAN_SSR_DATA__;
  if (ssr !== undefined && ssr !== null) {
    try {
      store.hydrate(ssr, now());
    } catch (e) {
      if (options.hydrate !== undefined) throw e;
      report(e); // a bad page payload must not break the app: it just starts empty
    }
  }
  flush();
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
