// The server engine, tokens, the in-memory origin store and the Redis scripts (KERNEL.md §2.1,
// §8, §10; wit/server.wit). The host runs the user's functions, evaluates auth predicates, reads
// and writes its cache and passes `now` (ms since the epoch). This file only translates.
import { runtime } from './kernel/full.js';
import { KernelResource } from './kernel/resource.js';
import { json, str, strList, u32, u64 } from './kernel/values.js';
import { plan, subject } from './keys.js';
import { Registry } from './registry.js';

const call = runtime.call;

const ENGINE_CONFIG_U64 = ['safetyTtlSeconds', 'mwtTtlSeconds', 'accessTtlSeconds', 'refreshTtlSeconds', 'tokenLeewaySeconds'];
const ENGINE_CONFIG_STR = ['basePath', 'cacheSecret', 'mwtSecret', 'jwtSecret'];

function engineConfig(config) {
  if (config === null || typeof config !== 'object') throw new TypeError('config must be an object');
  const out = {};
  for (const k of ENGINE_CONFIG_STR) out[k] = config[k] === undefined || config[k] === null ? undefined : str(`config.${k}`, config[k]);
  out.bodyLimit = config.bodyLimit === undefined || config.bodyLimit === null ? undefined : u32('config.bodyLimit', config.bodyLimit);
  out.maxPublicEntries =
    config.maxPublicEntries === undefined || config.maxPublicEntries === null ? undefined : u32('config.maxPublicEntries', config.maxPublicEntries);
  for (const k of ENGINE_CONFIG_U64) out[k] = config[k] === undefined || config[k] === null ? undefined : u64(`config.${k}`, config[k]);
  return out;
}

function identityIn(identity) {
  if (identity === undefined || identity === null) return undefined;
  if (typeof identity !== 'object') throw new TypeError('identity must be an object or null');
  return {
    subject: subject('identity.subject', identity.subject),
    staff: Boolean(identity.staff),
    superuser: Boolean(identity.superuser),
    sessionId: identity.sessionId === undefined || identity.sessionId === null ? undefined : str('identity.sessionId', identity.sessionId),
    perm: identity.perm === undefined || identity.perm === null ? undefined : str('identity.perm', identity.perm),
  };
}

const identityOut = (i) =>
  i === undefined || i === null
    ? null
    : { subject: i.subject, staff: i.staff, superuser: i.superuser, sessionId: i.sessionId ?? null, perm: i.perm ?? null };

const utf8 = new TextEncoder();

/** `headers`: `[[name, value]…]`, `{name: value}` or anything with `entries()` (a `Headers`). */
function headersIn(headers) {
  if (headers === undefined || headers === null) return [];
  const pairs = Array.isArray(headers) ? headers : typeof headers.entries === 'function' ? [...headers.entries()] : Object.entries(headers);
  return pairs.map(([name, value]) => ({ name: str('header name', name), value: str('header value', value) }));
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes travel as text when they are UTF-8 (one string copy), else as bytes for the kernel to judge. */
function bodyFromBytes(bytes) {
  try {
    return { tag: 'text', val: strictUtf8.decode(bytes) };
  } catch {
    return { tag: 'bytes', val: bytes };
  }
}

function requestIn(request) {
  if (request === null || typeof request !== 'object') throw new TypeError('request must be an object');
  const raw = request.body ?? '';
  let body;
  if (typeof raw === 'string') body = { tag: 'text', val: raw };
  else if (raw instanceof Uint8Array || raw instanceof ArrayBuffer) body = bodyFromBytes(raw instanceof Uint8Array ? raw : new Uint8Array(raw));
  else throw new TypeError('request.body must be a string, a Uint8Array or an ArrayBuffer');
  return {
    method: str('request.method', request.method),
    path: str('request.path', request.path),
    query: request.query === undefined || request.query === null ? '' : str('request.query', request.query),
    headers: headersIn(request.headers),
    body,
    csrfToken: request.csrfToken === undefined || request.csrfToken === null ? undefined : str('request.csrfToken', request.csrfToken),
  };
}

const responseOut = (r) => ({ status: r.status, headers: r.headers.map((h) => [h.name, h.value]), body: r.body });

const ttlOut = (v) => Number(v);

/** A public entry's bound: `{set, maxEntries}` (null: none). */
const boundOut = (b) => (b === undefined || b === null ? null : { set: b.set, maxEntries: b.maxEntries });

function boundIn(b) {
  if (b === undefined || b === null) return undefined;
  return { set: str('bound.set', b.set), maxEntries: u32('bound.maxEntries', b.maxEntries) };
}

function cacheOut(c) {
  return c === undefined || c === null ? null : { key: c.key, indexKeys: c.indexKeys, ttlSeconds: ttlOut(c.ttlSeconds), bound: boundOut(c.bound) };
}

function cacheIn(c) {
  if (c === undefined || c === null) return undefined;
  return {
    key: str('cache.key', c.key),
    indexKeys: strList('cache.indexKeys', c.indexKeys),
    ttlSeconds: u64('cache.ttlSeconds', c.ttlSeconds),
    bound: boundIn(c.bound),
  };
}

function cachePutIn(c) {
  if (c === null || typeof c !== 'object') throw new TypeError('put must be {key, body, indexKeys, ttlSeconds, bound?}');
  return { ...cacheIn(c), body: str('put.body', c.body) };
}

/** `args` parsed from `argsJson` when read (a host that parses the text itself pays nothing). */
function lazyArgs(o) {
  return Object.defineProperty(o, 'args', { get: () => JSON.parse(o.argsJson), enumerable: true });
}

/**
 * The plan: `{respond: response}`, `{checkPredicates: {predicates, identity}}`,
 * `{call: {function, args, argsJson, identity}}` or
 * `{fetch: {context, params, paramsJson, members: [{function, args, argsJson}], identity, cache}}`.
 * `argsJson` is the kernel's text; pass the call back to `finishCall` as it is.
 */
function planOut(p) {
  switch (p.tag) {
    case 'respond':
      return { respond: responseOut(p.val) };
    case 'check-predicates':
      return { checkPredicates: { predicates: p.val.predicates, identity: identityOut(p.val.identity) } };
    case 'call':
      return { call: lazyArgs({ function: p.val.function, argsJson: p.val.argsJson, identity: identityOut(p.val.identity) }) };
    case 'fetch':
      return {
        fetch: {
          context: p.val.context,
          get params() {
            return JSON.parse(this.paramsJson);
          },
          paramsJson: p.val.paramsJson,
          members: p.val.members.map((m) => lazyArgs({ function: m.function, argsJson: m.argsJson })),
          identity: identityOut(p.val.identity),
          cache: cacheOut(p.val.cache),
        },
      };
    default:
      throw new Error(`@mizan/kernel-wasm: unknown plan ${p.tag}`);
  }
}

/** `NOT_FOUND` (the wire code) or `not-found` (the WIT name). */
function protocolCode(code) {
  str('error.code', code);
  return code.toLowerCase().replaceAll('_', '-');
}

function protocolErrorIn(e) {
  if (e === null || typeof e !== 'object') throw new TypeError('error must be an object');
  return {
    code: protocolCode(e.code),
    message: e.message === undefined ? '' : str('error.message', e.message),
    detailsJson: e.details === undefined || e.details === null ? undefined : json('error.details', e.details),
  };
}

/** `{ok: value}` (or `{okJson: text}`), `{error: {code, message, details?}}` or `{exception: text}`. */
function outcomeIn(o) {
  if (o === null || typeof o !== 'object') throw new TypeError('outcome must be an object');
  if ('okJson' in o) return { tag: 'ok', val: str('outcome.okJson', o.okJson) };
  if ('ok' in o) return { tag: 'ok', val: json('outcome.ok', o.ok) };
  if ('exception' in o) return { tag: 'exception', val: String(o.exception) };
  if ('error' in o) return { tag: 'error', val: protocolErrorIn(o.error) };
  throw new TypeError('outcome must be {ok}, {error} or {exception}');
}

function fetchOutcomeIn(o) {
  if (o === null || typeof o !== 'object') throw new TypeError('outcome must be an object');
  if ('hit' in o) return { tag: 'hit', val: str('outcome.hit', o.hit) };
  if (!Array.isArray(o.results)) throw new TypeError('outcome must be {hit} or {results}');
  return { tag: 'results', val: o.results.map((r) => ({ function: str('results[].function', r.function), outcome: outcomeIn(r.outcome) })) };
}

function callIn(call) {
  if (call === null || typeof call !== 'object') throw new TypeError('call must be an object');
  return {
    function: str('call.function', call.function),
    argsJson: call.argsJson !== undefined ? str('call.argsJson', call.argsJson) : json('call.args', call.args ?? {}),
    identity: identityIn(call.identity),
  };
}

function purgePlanIn(p) {
  if (p === null || typeof p !== 'object' || !Array.isArray(p.scopes)) throw new TypeError('plan must be {scopes: [...]}');
  return {
    scopes: p.scopes.map((s) => ({
      base: str('scope.base', s.base),
      terms: (s.terms ?? []).map((t) => ({ hasParam: str('term.hasParam', t.hasParam), paramEquals: str('term.paramEquals', t.paramEquals) })),
    })),
  };
}

function finishedOut(f) {
  return {
    response: responseOut(f.response),
    cachePut:
      f.cachePut === undefined || f.cachePut === null
        ? null
        : {
            key: f.cachePut.key,
            body: f.cachePut.body,
            indexKeys: f.cachePut.indexKeys,
            ttlSeconds: ttlOut(f.cachePut.ttlSeconds),
            bound: boundOut(f.cachePut.bound),
          },
    purge: f.purge === undefined || f.purge === null ? null : plan(f.purge),
    diagnostics: f.diagnostics,
  };
}

const claimsOut = (c) => ({
  kind: c.kind,
  subject: c.subject,
  staff: c.staff,
  superuser: c.superuser,
  perm: c.perm ?? null,
  sessionId: c.sessionId ?? null,
  issuedAt: Number(c.issuedAt),
  expiresAt: Number(c.expiresAt),
});

const TOKEN_KINDS = new Set(['mwt', 'access', 'refresh']);

/** The server protocol engine for one registry and config (stateless between calls). */
export class Engine extends KernelResource {
  /** Use Engine.create(registry, config). */
  constructor(registry, config = {}) {
    const registryJson =
      registry instanceof Registry ? JSON.stringify(registry.toJson()) : typeof registry === 'string' ? registry : json('registry', registry);
    const c = engineConfig(config);
    super(runtime, (k) => k.server.Engine.create(registryJson, c));
  }

  /**
   * `registry`: a Registry, its JSON form, or that as text. `config` (all optional): basePath,
   * bodyLimit, cacheSecret, safetyTtlSeconds, mwtSecret, mwtTtlSeconds, jwtSecret,
   * accessTtlSeconds, refreshTtlSeconds, tokenLeewaySeconds, maxPublicEntries.
   */
  static create(registry, config = {}) {
    return new Engine(registry, config);
  }



  /** Problems with a usable config (short secrets), to log at start. */
  warnings() {
    return this._do((e) => e.warnings());
  }

  /** Plan a request. `answers`: `[{name, allowed}]` after a `checkPredicates` plan. */
  plan(request, now, { identity, answers = [] } = {}) {
    const r = requestIn(request);
    const t = u64('now', now);
    const i = identityIn(identity);
    const a = answers.map((x) => ({ name: str('answer.name', x.name), allowed: Boolean(x.allowed) }));
    return planOut(this._do((e) => e.plan(r, i, t, a)));
  }

  /** `call`: the plan's `call` (or `{function, args, identity?}`); `outcome`: `{ok}`, `{error}`, `{exception}`. */
  finishCall(callPlan, outcome) {
    const c = callIn(callPlan);
    const o = outcomeIn(outcome);
    return finishedOut(this._do((e) => e.finishCall(c, o)));
  }

  /** `cache`: the fetch plan's (or null); `outcome`: `{hit: body}` or `{results: [{function, outcome}]}`. */
  finishFetch(context, cache, outcome) {
    str('context', context);
    const c = cacheIn(cache);
    const o = fetchOutcomeIn(outcome);
    return finishedOut(this._do((e) => e.finishFetch(context, c, o)));
  }

  /** The response for an error the host found itself (revoked session, CSRF, body limit). */
  errorResponse(error) {
    const e = protocolErrorIn(error);
    return responseOut(this._do((x) => x.errorResponse(e)));
  }

  /** Whether `plan` takes the identity from a token header (or refuses a bad or ambiguous one) rather than the session. */
  readsToken(request) {
    const r = requestIn(request);
    return this._do((e) => e.readsToken(r));
  }

  /** Purges that failed, kept to retry: both plans, each scope once (every context, broadly, past the kernel's bound). */
  mergePurgePlans(pending, failed) {
    const a = purgePlanIn(pending);
    const b = purgePlanIn(failed);
    return plan(this._do((e) => e.mergePurgePlans(a, b)));
  }

  purgePlan(entries) {
    const t = json('entries', entries);
    return plan(this._do((e) => e.purgePlan(t)));
  }

  purgeUserPlan(user) {
    const u = subject('user', user);
    return plan(this._do((e) => e.purgeUserPlan(u)));
  }

  mintMwt(identity, now) {
    const i = identityIn(identity);
    if (!i) throw new TypeError('identity is required');
    const t = u64('now', now);
    return this._do((e) => e.mintMwt(i, t));
  }

  verifyMwt(token, now) {
    str('token', token);
    const t = u64('now', now);
    return claimsOut(this._do((e) => e.verifyMwt(token, t)));
  }

  /** `{access, refresh, accessExpiresAt, refreshExpiresAt}` (seconds since the epoch). */
  mintJwtPair(identity, sessionId, now) {
    const i = identityIn(identity);
    if (!i) throw new TypeError('identity is required');
    str('sessionId', sessionId);
    const t = u64('now', now);
    const p = this._do((e) => e.mintJwtPair(i, sessionId, t));
    return { access: p.access, refresh: p.refresh, accessExpiresAt: Number(p.accessExpiresAt), refreshExpiresAt: Number(p.refreshExpiresAt) };
  }

  /** `kind`: `"access"` or `"refresh"`. */
  verifyJwt(token, kind, now) {
    str('token', token);
    if (!TOKEN_KINDS.has(kind)) throw new TypeError('kind must be "mwt", "access" or "refresh"');
    const t = u64('now', now);
    return claimsOut(this._do((e) => e.verifyJwt(token, kind, t)));
  }

}

/**
 * The in-memory origin cache (entries, index sets, purge plans). Bounds: 0 takes the default
 * (10 000 entries, 64 MiB). After a trap it is recreated empty (a cache may always miss).
 */
export class OriginStore extends KernelResource {
  constructor(maxEntries = 0, maxBytes = 0) {
    const entries = u32('maxEntries', maxEntries);
    const bytes = u64('maxBytes', maxBytes);
    super(runtime, (k) => new k.server.OriginStore(entries, bytes));
  }



  /** The body, or null on a miss. */
  get(key, now) {
    str('key', key);
    const t = u64('now', now);
    return this._do((s) => s.get(key, t)) ?? null;
  }

  /** False when nothing was stored (TTL 0, or larger than the byte bound). */
  put(key, body, indexKeys, ttlSeconds, now) {
    str('key', key);
    str('body', body);
    strList('indexKeys', indexKeys);
    const ttl = u64('ttlSeconds', ttlSeconds);
    const t = u64('now', now);
    return this._do((s) => s.put(key, body, indexKeys, ttl, t));
  }

  /** Delete what the plan matches; returns the deleted keys, sorted. */
  purge(purgePlan) {
    const p = purgePlanIn(purgePlan);
    return this._do((s) => s.purge(p));
  }

  /** `{body, ticket}`: the body (null: a miss) and the ticket a later `putEntry` presents. */
  lookup(key, now) {
    str('key', key);
    const t = u64('now', now);
    const l = this._do((s) => s.lookup(key, t));
    return { body: l.body ?? null, ticket: Number(l.ticket) };
  }

  /** Store the engine's `cachePut` unless a purge of its sets started after `ticket` (null: no check) or its bound set is full. */
  putEntry(put, ticket, now) {
    const p = cachePutIn(put);
    const k = ticket === undefined || ticket === null ? undefined : u64('ticket', ticket);
    const t = u64('now', now);
    return this._do((s) => s.putEntry(p, k, t));
  }

  /** One step of a purge over at most `limit` set members (0: 256): `{purged, cursor}` (cursor null: done). */
  purgeStep(purgePlan, cursor = null, limit = 0) {
    const p = purgePlanIn(purgePlan);
    const c = cursor === undefined || cursor === null ? undefined : str('cursor', cursor);
    const l = u32('limit', limit);
    const step = this._do((s) => s.purgeStep(p, c, l));
    return { purged: step.purged, cursor: step.cursor ?? null };
  }

  /** Remove expired entries; returns how many. */
  sweep(now) {
    const t = u64('now', now);
    return this._do((s) => s.sweep(t));
  }

  /** The number of entries. */
  len() {
    return this._do((s) => s.len());
  }

  /** How many index sets exist (none is ever empty). */
  indexSets() {
    return this._do((s) => s.indexSets());
  }

  clear() {
    this._do((s) => s.clear());
  }

}

/**
 * The request headers the engine reads, lower-case (`x-mizan-token`, `authorization`): a server
 * passes the engine these of a request's headers and no other.
 */
export function requestHeaders() {
  return call((k) => k.server.requestHeaders());
}

/** `EVAL put-script 0 prefix key body ttl-seconds index-key…` (docs/SERVER.md). */
export function redisPutScript() {
  return call((k) => k.server.redisPutScript());
}

/** `EVAL purge-script 0 plan-json prefix`; returns the purged keys. */
export function redisPurgeScript() {
  return call((k) => k.server.redisPurgeScript());
}

/** A purge plan as the purge script's `plan-json` argument. */
export function redisPlanJson(purgePlan) {
  const p = purgePlanIn(purgePlan);
  return call((k) => k.server.redisPlanJson(p));
}

/** Whether `purgePlan` purges an entry with these index keys. */
export function purgeCovers(purgePlan, indexKeys) {
  const p = purgePlanIn(purgePlan);
  strList('indexKeys', indexKeys);
  return call((k) => k.server.purgeCovers(p, indexKeys));
}

// The translations src/exchange.js shares (not part of the package's API: index.js re-exports by name).
export { engineConfig, identityIn, identityOut, requestIn, responseOut, protocolErrorIn, outcomeIn, purgePlanIn, boundOut, ttlOut };
