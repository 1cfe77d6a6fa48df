// Replays the conformance scenarios (format: tests/conformance/README.md; loaded by
// conformance-files.js) through the public API of @mizan/kernel-wasm. Runs unchanged in Node and
// in a browser.
import * as api from '../src/index.js';
import { jsonEqual } from './json-equal.js';

const { ClientSession, Engine, ExchangeServer, MizanKernelError, OriginStore, Registry, Store, createKeyer } = api;

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
  'client-session-script': (a, _regs, kernel) => sessionScript(a, kernel.ClientSession),
  'exchange-script': (a, regs) => exchangeScript(a, regs),
  'server-plan': (a, regs) =>
    planJson(engine(a, regs).plan(requestIn(a.request), a.now ?? 0, { identity: identityIn(a.identity), answers: a.answers ?? [] })),
  'server-finish-call': (a, regs) =>
    finishedJson(engine(a, regs).finishCall({ function: a.call.function, args: a.call.args, identity: identityIn(a.call.identity) }, a.outcome)),
  'server-finish-fetch': (a, regs) => finishedJson(engine(a, regs).finishFetch(a.context, cacheIn(a.cache), a.outcome)),
  'token-mint': (a) => {
    const e = Engine.create({}, configIn(a.config));
    if (a.kind === 'mwt') return e.mintMwt(identityIn(a.identity), a.now ?? 0);
    const p = e.mintJwtPair(identityIn(a.identity), a.session_id ?? '', a.now ?? 0);
    return { access: p.access, refresh: p.refresh, access_expires_at: p.accessExpiresAt, refresh_expires_at: p.refreshExpiresAt };
  },
  'token-verify': (a) => {
    const e = Engine.create({}, configIn(a.config));
    const c = a.kind === 'mwt' ? e.verifyMwt(a.token, a.now ?? 0) : e.verifyJwt(a.token, a.kind, a.now ?? 0);
    return {
      kind: c.kind, subject: c.subject, staff: c.staff, superuser: c.superuser, perm: c.perm,
      session_id: c.sessionId, issued_at: c.issuedAt, expires_at: c.expiresAt,
    };
  },
  'origin-store-script': (a) => originStoreScript(a),
  'request-headers': () => api.requestHeaders(),
  'redis-scripts': () => ({ put: api.redisPutScript(), purge: api.redisPurgeScript() }),
  'redis-plan-json': (a) => api.redisPlanJson(camelPlan(a.plan)),
};

// Conformance JSON forms (snake_case) <-> the JS API (camelCase).
const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const configIn = (c) => Object.fromEntries(Object.entries(c ?? {}).map(([k, v]) => [camel(k), v]));
const identityIn = (i) =>
  i === undefined || i === null ? i : { subject: i.subject, staff: i.staff, superuser: i.superuser, sessionId: i.session_id, perm: i.perm };
const identityJson = (i) =>
  i === null ? null : { subject: i.subject, staff: i.staff, superuser: i.superuser, session_id: i.sessionId, perm: i.perm };
const requestIn = (r) => ({ method: r.method, path: r.path, query: r.query, headers: r.headers, body: r.body, csrfToken: r.csrf_token });
const boundIn = (b) => (b === undefined || b === null ? null : { set: b.set, maxEntries: b.max_entries });
const boundJson = (b) => (b === null ? null : { set: b.set, max_entries: b.maxEntries });
const cacheIn = (c) =>
  c === undefined || c === null ? null : { key: c.key, indexKeys: c.index_keys, ttlSeconds: c.ttl_seconds, bound: boundIn(c.bound) };
const cacheJson = (c) => (c === null ? null : { key: c.key, index_keys: c.indexKeys, ttl_seconds: c.ttlSeconds, bound: boundJson(c.bound) });
const camelPlan = (p) => ({
  scopes: p.scopes.map((s) => ({ base: s.base, terms: s.terms.map((t) => ({ hasParam: t.has_param, paramEquals: t.param_equals })) })),
});

// ---- exchange scripts (tests/conformance/exchange): the scripts' snake_case <-> src/exchange.js ----

const optCamelPlan = (p) => (p === undefined || p === null ? p : camelPlan(p));

function exchangeEventIn(e) {
  if (typeof e === 'string') return e;
  const [[name, d]] = Object.entries(e);
  switch (name) {
    case 'identity':
      return { identity: identityIn(d) };
    case 'ran':
      return { ran: { outcomes: d.outcomes, pending: optCamelPlan(d.pending) } };
    case 'retried':
      return { retried: optCamelPlan(d) };
    default:
      return { [camel(name)]: d };
  }
}

const snake = (k) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function exchangeEffectJson(e) {
  if (typeof e === 'string') return snake(e);
  const [[name, d]] = Object.entries(e);
  switch (name) {
    case 'checkPredicates':
      return { check_predicates: { predicates: d.predicates, identity: identityJson(d.identity) } };
    case 'run':
      return { run: { calls: d.calls.map((c) => ({ function: c.function, args: JSON.parse(c.argsJson) })), identity: identityJson(d.identity) } };
    case 'retryPurge':
    case 'purge':
    case 'keepPending':
      return { [snake(name)]: snakePlan(d) };
    case 'put':
      return { put: { entry: { ...cacheJson(d.entry), body: d.entry.body }, ticket: d.ticket } };
    default:
      return { [snake(name)]: d };
  }
}

const arrivalIn = (d) => ({ request: requestIn(d.request), pending: optCamelPlan(d.pending), now: d.now, identity: identityIn(d.identity) });

// The script's first event is the arrival, which `begin` takes, and a later arrival `arrive`
// (the exchange serving its next request); the rest go to `update`.
function exchangeScript(a, regs) {
  const server = new ExchangeServer(registry(regs, a.registry), configIn(a.config), a.hooks ?? {});
  let exchange = null;
  try {
    return a.steps.map((step) => {
      let events = step;
      let effects = [];
      if (step[0]?.arrived) {
        const arrival = arrivalIn(step[0].arrived);
        if (exchange === null) ({ exchange, effects } = server.begin(arrival));
        else effects = exchange.arrive(arrival);
        events = step.slice(1);
      }
      if (events.length > 0) effects = effects.concat(exchange.update(events.map(exchangeEventIn)));
      return effects.map(exchangeEffectJson);
    });
  } finally {
    exchange?.free();
    server.free();
  }
}

function engine(a, regs) {
  return Engine.create(registry(regs, a.registry), configIn(a.config));
}

function planJson(p) {
  if (p.respond) return { respond: p.respond };
  if (p.checkPredicates) return { check_predicates: { predicates: p.checkPredicates.predicates, identity: identityJson(p.checkPredicates.identity) } };
  if (p.call) return { call: { function: p.call.function, args: p.call.args, identity: identityJson(p.call.identity) } };
  const f = p.fetch;
  return {
    fetch: {
      context: f.context,
      params: f.params,
      members: f.members.map((m) => ({ function: m.function, args: m.args })),
      identity: identityJson(f.identity),
      cache: cacheJson(f.cache),
    },
  };
}

function finishedJson(f) {
  return {
    response: f.response,
    cache_put:
      f.cachePut === null
        ? null
        : {
            key: f.cachePut.key,
            body: f.cachePut.body,
            index_keys: f.cachePut.indexKeys,
            ttl_seconds: f.cachePut.ttlSeconds,
            bound: boundJson(f.cachePut.bound),
          },
    purge: f.purge === null ? null : snakePlan(f.purge),
    diagnostics: f.diagnostics,
  };
}

const ORIGIN_STEPS = {
  put: (s, a) => s.put(a.key, a.body, a.index_keys, a.ttl_seconds ?? 0, a.now ?? 0),
  get: (s, a) => s.get(a.key, a.now ?? 0),
  purge: (s, a) => s.purge(camelPlan(a.plan)),
  lookup: (s, a) => s.lookup(a.key, a.now ?? 0),
  put_entry: (s, a) => s.putEntry({ ...cacheIn(a.put), body: a.put.body }, a.ticket ?? null, a.now ?? 0),
  purge_step: (s, a) => s.purgeStep(camelPlan(a.plan), a.cursor ?? null, a.limit ?? 0),
  sweep: (s, a) => s.sweep(a.now ?? 0),
  len: (s) => s.len(),
  index_sets: (s) => s.indexSets(),
  clear: (s) => s.clear(),
};

function originStoreScript(a) {
  const store = new OriginStore(a.max_entries ?? 0, a.max_bytes ?? 0);
  return a.steps.map((step) => {
    const run = ORIGIN_STEPS[step.do];
    if (!run) throw new Error(`unknown origin-store step ${JSON.stringify(step.do)}`);
    try {
      const out = run(store, step);
      return out === undefined ? null : out;
    } catch (e) {
      if (e instanceof MizanKernelError) return { error: e.code };
      throw e;
    }
  });
}

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

// ---- client-session scripts (README: Client-session scripts): JSON form <-> jco's shapes --------

const text = (v) => JSON.stringify(v);
const ref = (v) => ({ context: v.context, paramsJson: text(v.params ?? {}) });
const NO_PAYLOAD = new Set(['start', 'reset', 'tick', 'focus', 'online', 'close']);

function eventIn(e) {
  if (typeof e === 'string') {
    if (!NO_PAYLOAD.has(e)) throw new Error(`unknown event ${e}`);
    return { tag: e, val: undefined };
  }
  const [[name, v]] = Object.entries(e);
  switch (name) {
    case 'start':
    case 'cancel':
    case 'unsubscribe':
    case 'refetch':
      return { tag: name, val: v ?? undefined };
    case 'subscribe':
    case 'prefetch':
    case 'view':
      return { tag: name, val: ref(v) };
    case 'fetch':
      return { tag: 'fetch', val: { waiter: v.waiter, instance: ref(v), force: Boolean(v.force) } };
    case 'call':
      return { tag: 'call', val: { waiter: v.waiter, function: v.fn, argsJson: text(v.args ?? {}), optimisticJson: v.optimistic === undefined ? undefined : text(v.optimistic) } };
    case 'answer': {
      let outcome;
      if (v.http) outcome = { tag: 'http', val: { status: v.http.status, body: v.http.body, invalidate: v.http.invalidate } };
      else if (v.decoded) outcome = { tag: 'decoded', val: { bodyJson: text(v.decoded.body), invalidate: v.decoded.invalidate } };
      else if ('unusable' in v) outcome = { tag: 'unusable', val: v.unusable };
      else outcome = { tag: 'failed', val: text(v.failed) };
      return { tag: 'answer', val: { request: v.request, outcome } };
    }
    case 'invalidate':
      return { tag: name, val: text(v) };
    case 'hydrate':
      return { tag: 'hydrate', val: { payloadJson: text(v.payload), held: Boolean(v.held) } };
    case 'remove':
      return { tag: 'remove', val: v === null ? undefined : text(v) };
    default:
      throw new Error(`unknown event ${name}`);
  }
}

const num = (x) => (x === undefined || x === null ? null : Number(x));
const errorOut = (e) => ({
  code: e.code, message: e.message, details_json: e.detailsJson ?? null, status: e.status ?? null, network: e.network, body_json: e.bodyJson ?? null,
});

function opOut(op) {
  if (op.tag === 'fetch') return { fetch: { key: op.val.key, context: op.val.context, params_json: op.val.paramsJson, query: op.val.query } };
  if (op.tag === 'call') return { call: { fn: op.val.function, args_json: op.val.argsJson, csrf_token: op.val.csrfToken ?? null } };
  return 'session';
}

function outputOut(o) {
  return {
    results: o.results.map((r) => (r.tag === 'ok' ? { ok: r.val ?? null } : { error: r.val.code })),
    requests: o.requests.map((r) => ({
      id: Number(r.id),
      kind: r.kind,
      http: r.http ? { method: r.http.method.toUpperCase(), path: r.http.path, headers: r.http.headers, body: r.http.body ?? null } : null,
      op: r.op ? opOut(r.op) : null,
      timeout_ms: Number(r.timeoutMs),
    })),
    views: o.views.map((v) => ({
      key: v.key,
      instance: v.instance ? { context: v.instance.context, params_json: v.instance.paramsJson } : null,
      gone: v.gone, status: v.status, fetching: v.fetching, stale: v.stale, updated_at: num(v.updatedAt),
      error: v.error ? errorOut(v.error) : null,
      slots: v.slots ? v.slots.map(([name, version]) => [name, Number(version)]) : null,
      values: v.values,
    })),
    settled: o.settled.map((s) => (s.outcome.tag === 'ok' ? { waiter: Number(s.waiter), ok: s.outcome.val } : { waiter: Number(s.waiter), error: errorOut(s.outcome.val) })),
    timer: o.timer ? { at_ms: Number(o.timer.atMs), delay_ms: Number(o.timer.delayMs) } : null,
  };
}

function sessionScript(a, ClientSession) {
  let session = new ClientSession(a.config);
  return a.steps.map((step) => {
    const now = step.now ?? 0;
    switch (step.do) {
      case undefined:
        return outputOut(session.update(step.events.map(eventIn), now));
      case 'restart':
        session.free();
        session = new ClientSession(a.config);
        return null;
      case 'snapshot':
        return session.snapshot(step.key, now);
      case 'idle':
        return session.idle();
      case 'count':
        return session.instanceCount();
      case 'dehydrate':
        return session.dehydrate();
      default:
        throw new Error(`unknown client-session step ${JSON.stringify(step.do)}`);
    }
  });
}

const show = (v) => {
  const t = JSON.stringify(v);
  return t === undefined ? String(v) : t.length > 300 ? `${t.slice(0, 300)}…` : t;
};

/** Run one scenario; returns null on success or a failure message. */
function runOne(s, registries, kernel) {
  const op = OPS[s.op];
  if (!op) return `unknown op ${JSON.stringify(s.op)}`;
  let got;
  try {
    got = op(s.args ?? {}, registries, kernel);
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
 * What a JavaScript host cannot take part in (tests/conformance/README.md "needs"): its numbers
 * are doubles, so `JSON.parse` has already rounded an integer past 2^53 before any API sees it.
 */
const UNSUPPORTED = new Set(['exact-integers']);

/**
 * Replay a scenarios document `{registries, scenarios}`. `kernel`: whose `ClientSession` runs the
 * client-session scripts (default the full component's; the client component's passes too).
 * @returns {{passed: number, failed: number, skipped: number, failures: {id: string, op: string, message: string}[]}}
 */
export function run(doc, kernel = { ClientSession }) {
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
  let skipped = 0;
  for (const s of doc.scenarios ?? []) {
    if ((s.needs ?? []).some((n) => UNSUPPORTED.has(n))) {
      skipped++;
      continue;
    }
    const message = runOne(s, registries, kernel);
    if (message === null) passed++;
    else failures.push({ id: s.id, op: s.op, message });
  }
  return { passed, failed: failures.length, skipped, failures };
}
