// Replays tests/conformance/scenarios.json (format: tests/conformance/README.md) through the
// public API of @mizan/kernel-wasm. Runs unchanged in Node and in a browser.
import * as api from '../src/index.js';

const { MizanKernelError, Registry, Store, createKeyer } = api;

/** Deep equality of JSON values: object key order ignored, arrays ordered. */
export function jsonEqual(a, b) {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => jsonEqual(v, b[i]));
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
}

const snakePlan = (p) => ({
  scopes: p.scopes.map((s) => ({
    base: s.base,
    terms: s.terms.map((t) => ({ has_param: t.hasParam, param_equals: t.paramEquals })),
  })),
});

const opts = (a) => ({ user: a.user, rev: a.rev });

function registry(registries, name) {
  const r = registries.get(name);
  if (r === undefined) throw new Error(`scenario names an unknown registry ${JSON.stringify(name)}`);
  if (r instanceof Error) throw r;
  return r;
}

/** The op table of the README, mapped onto the JS API. Results use the README's shapes. */
const OPS = {
  'stringify': (a) => api.stringify(a.value),
  'canonical-json': (a) => api.canonicalJson(a.value),
  'check-secret': (a) => api.checkSecret(a.secret),
  'derive-cache-key': (a) => api.deriveCacheKey(a.secret, a.context, a.params, opts(a)),
  'derive-cache-key-rotation': (a) => api.deriveCacheKeyRotation(a.secrets, a.context, a.params, opts(a)),
  'derive-batch': (a) => api.deriveCacheKeys(a.secret, a.items),
  'index-entry': (a) => {
    const e = createKeyer(a.secret).indexEntry(a.context, a.params, opts(a));
    return { key: e.key, index_keys: e.indexKeys };
  },
  'purge-plan': (a) => snakePlan(createKeyer(a.secret).purgePlan(a.entries)),
  'purge-user-plan': (a) => snakePlan(createKeyer(a.secret).purgeUserPlan(a.contexts, a.user)),
  'format-header': (a) => api.formatInvalidateHeader(a.entries),
  'parse-header': (a) => api.parseInvalidateHeader(a.text),
  'registry-load': (a) => {
    const r = a.kdl !== undefined ? Registry.fromKdl(a.kdl) : Registry.fromJson(a.json);
    return { kdl: r.toKdl(), json: r.toJson() };
  },
  'resolve-invalidation': (a, regs) => registry(regs, a.registry).resolveInvalidation(a.function, a.args, { subject: a.subject }),
  'resolve-merges': (a, regs) => registry(regs, a.registry).resolveMerges(a.function, a.args, a.result),
  'manifest': (a, regs) => registry(regs, a.registry).manifest(a.base_url, a.view_urls),
  'context-policy': (a, regs) => {
    const p = registry(regs, a.registry).contextPolicy(a.context);
    return { rev: p.rev, cacheable: p.cacheable, ttl_seconds: p.ttlSeconds };
  },
  'apply-merge': (a) => api.applyMerge(a.bundle, a.entry),
  'store-script': (a) => storeScript(a),
};

/** README "Store scripts": one output per step; a failing step records `{error: code}`. */
const STEPS = {
  start: (s) => s.start(),
  session_ok: (s, a) => s.sessionOk(a.request_id, a.body),
  subscribe: (s, a) => s.subscribe(a.context, a.params, a.now),
  prefetch: (s, a) => s.prefetch(a.context, a.params, a.now),
  unsubscribe: (s, a) => s.unsubscribe(a.key, a.now),
  refetch: (s, a) => s.refetch(a.key),
  fetch_ok: (s, a) => s.fetchOk(a.request_id, a.body, a.now),
  fetch_err: (s, a) => s.fetchErr(a.request_id, a.error, a.now),
  mutate: (s, a) => s.mutate(a.fn, a.args, a.optimistic),
  call_ok: (s, a) => s.callOk(a.request_id, a.body, a.header),
  call_err: (s, a) => s.callErr(a.request_id, a.error),
  invalidate: (s, a) => s.invalidate(a.entries),
  remove: (s, a) => s.remove(a.entries),
  reset: (s) => s.reset(),
  tick: (s, a) => s.tick(a.now),
  focus: (s, a) => s.focus(a.now),
  online: (s, a) => s.online(a.now),
  hydrate: (s, a) => s.hydrate(a.payload, a.now),
  dehydrate: (s) => s.dehydrate(),
  snapshot: (s, a) => s.snapshot(a.key, a.now),
  mutation: (s, a) => s.mutation(a.id),
  count: (s) => s.instanceCount(),
  drain: (s, a) => s.drain(a.now),
};

function storeScript(a) {
  const store = Store.create(a.config);
  return a.steps.map((step) => {
    const run = STEPS[step.do];
    if (!run) throw new Error(`unknown store step ${JSON.stringify(step.do)}`);
    try {
      const out = run(store, step);
      return out === undefined ? null : out;
    } catch (e) {
      if (e instanceof MizanKernelError) return { error: e.code };
      throw e;
    }
  });
}

const show = (v) => {
  const t = JSON.stringify(v);
  return t === undefined ? String(v) : t.length > 300 ? `${t.slice(0, 300)}…` : t;
};

/** Run one scenario; returns null on success or a failure message. */
function runOne(s, registries) {
  const op = OPS[s.op];
  if (!op) return `unknown op ${JSON.stringify(s.op)}`;
  let got;
  try {
    got = op(s.args ?? {}, registries);
  } catch (e) {
    if (!('expect_error' in s)) return `threw ${e?.name}: ${e?.code ?? ''} ${e?.message}`;
    if (!(e instanceof MizanKernelError)) return `threw ${e?.name} (${e?.message}), expected a MizanKernelError`;
    if (e.code !== s.expect_error.code) return `error code ${e.code} (${e.message}), expected ${s.expect_error.code}`;
    if ('details' in s.expect_error && !jsonEqual(e.details, s.expect_error.details)) {
      return `error details ${show(e.details)}, expected ${show(s.expect_error.details)}`;
    }
    return null;
  }
  if ('expect_error' in s) return `returned ${show(got)}, expected error ${show(s.expect_error)}`;
  if (!jsonEqual(got, s.expect)) return `got ${show(got)}, expected ${show(s.expect)}`;
  return null;
}

/**
 * Replay a scenarios document `{registries, scenarios}`.
 * @returns {{passed: number, failed: number, failures: {id: string, op: string, message: string}[]}}
 */
export function run(doc) {
  const registries = new Map();
  for (const [name, src] of Object.entries(doc.registries ?? {})) {
    try {
      registries.set(name, typeof src === 'string' ? Registry.fromKdl(src) : Registry.fromJson(src));
    } catch (e) {
      registries.set(name, new Error(`registry ${name} does not load: ${e.code ?? e.name}: ${e.message}`));
    }
  }
  const failures = [];
  let passed = 0;
  for (const s of doc.scenarios ?? []) {
    const message = runOne(s, registries);
    if (message === null) passed++;
    else failures.push({ id: s.id, op: s.op, message });
  }
  return { passed, failed: failures.length, failures };
}
