// A Mizan app, runtime-neutral: the kernel's exchange server and engine over the registry, the
// functions and predicates, the origin store, the purge that failed (pending). The per-request
// flow is flow.js (an interpreter of the exchange); the front doors (the Fetch API, node:http)
// only turn their request into the kernel's and send back its response.
import { ExchangeServer } from '../exchange.js';
import { Engine, redisPlanJson } from '../server.js';
import { Functions } from './functions.js';
import { MemoryOriginStore } from './stores.js';

const ENGINE_KEYS = [
  'basePath', 'bodyLimit', 'safetyTtlSeconds', 'mwtSecret', 'mwtTtlSeconds', 'jwtSecret', 'accessTtlSeconds',
  'refreshTtlSeconds', 'tokenLeewaySeconds', 'maxPublicEntries',
];

const HOST_KEYS = ['cache', 'cacheSecret', 'identity', 'revoked', 'predicates', 'logger'];
const KNOWN = new Set([...ENGINE_KEYS, ...HOST_KEYS]);

function randomSecret() {
  const bytes = new Uint8Array(32);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function makeStore(cache) {
  if (cache === undefined || cache === null || cache === false || cache === 'none') return null;
  if (cache === 'memory') return new MemoryOriginStore();
  if (typeof cache === 'object' && typeof cache.lookup === 'function' && typeof cache.put === 'function' && typeof cache.purge === 'function') {
    return cache;
  }
  throw new TypeError("cache must be 'memory', null, or a store ({lookup, put, purge}: MemoryOriginStore, RedisOriginStore)");
}

/** Fail at start, naming them, when a public function has no implementation or an implementation has no registry entry. */
function checkImplementations(declared, implemented) {
  const missing = Object.entries(declared).filter(([n, f]) => !f.private && !implemented.has(n)).map(([n]) => `\`${n}\``).sort();
  const unknown = [...implemented.keys()].filter((n) => !(n in declared)).map((n) => `\`${n}\``).sort();
  const problems = [];
  if (missing.length) problems.push(`no implementation for ${missing.join(', ')}`);
  if (unknown.length) problems.push(`${unknown.join(', ')} registered, but the registry has no such function`);
  if (problems.length) throw new Error(`mizan: ${problems.join('; ')}`);
}

export class MizanApp {
  /**
   * `functions`: a `defineFunctions()` set. Options: `cache` (`'memory'`, a store, or none),
   * `cacheSecret` (a random one for an in-memory cache when absent), `mwtSecret`, `jwtSecret`,
   * `identity(request)` (the session identity; may be async), `revoked(sessionId)`, `basePath`,
   * `bodyLimit` and the other engine config, `logger` (`{warn, error}`; default console).
   */
  constructor(functions, options = {}) {
    if (!(functions instanceof Functions)) throw new TypeError('mizanHandler(functions): use defineFunctions()');
    const unknown = Object.keys(options).filter((k) => !KNOWN.has(k));
    if (unknown.length) throw new TypeError(`mizanHandler: unknown option ${unknown.join(', ')}; known: ${[...KNOWN].join(', ')}`);
    this.functions = new Map([...functions.functions].map(([name, f]) => [name, f.fn]));
    this.predicates = new Map(functions.predicates);
    for (const [name, fn] of Object.entries(options.predicates ?? {})) this.predicates.set(name, fn);
    this.store = makeStore(options.cache);
    this.logger = options.logger ?? console;
    this.identityOf = options.identity ?? null;
    this.revoked = options.revoked ?? null;
    let cacheSecret = options.cacheSecret;
    if (this.store !== null && !cacheSecret) {
      if (options.cache !== 'memory') throw new Error('an origin cache needs cacheSecret (the same on every process sharing it)');
      cacheSecret = randomSecret(); // entries live in this process only
    }
    const config = {};
    for (const k of ENGINE_KEYS) if (options[k] !== undefined) config[k] = options[k];
    if (this.store !== null) config.cacheSecret = cacheSecret;
    this.registry = functions.registry();
    // The exchange serves requests; the engine answers what lives outside one (purge plans for
    // `purge`/`purgeUser`, the envelope of an error the front door finds before the exchange).
    // With the `identity` hook when the app has a lookup: the exchange asks for the session only
    // when a request needs it (no token, a route that reads it), as on every host.
    const hooks = { identity: this.identityOf !== null, revocation: this.revoked !== null };
    this.server = new ExchangeServer(this.registry, config, hooks);
    this.engine = Engine.create(this.registry, config);
    for (const w of this.server.warnings()) this.logger.warn(`mizan: ${w}`);
    this.basePath = (options.basePath ?? '/api/mizan').replace(/\/+$/, '');
    this.bodyLimit = options.bodyLimit ?? 1024 * 1024;
    checkImplementations(this.registry.toJson().functions, this.functions);
    // The purges that failed, merged, and a version (docs/SERVER.md "When a purge fails"): one
    // per process, passed to every exchange, which decides what it fences.
    this.pending = null;
    this.pendingVersion = 0;
  }

  /** The response for an error the host found itself, in the engine's envelope. */
  errorResponse(code, message = '') {
    return this.engine.errorResponse({ code, message });
  }

  /** Purge what invalidation entries cover (`'ctx'` / `{context, params?}`): webhooks, admin actions. */
  async purge(entries) {
    return this.store === null ? [] : this.purgeOrKeep(this.engine.purgePlan(entries));
  }

  /** Purge every origin-cache entry of one user, in every context (GDPR erasure). */
  async purgeUser(user) {
    return this.store === null ? [] : this.purgeOrKeep(this.engine.purgeUserPlan(user));
  }

  /** A failure is thrown, and kept: until a retry succeeds what it covers is served without the cache. */
  async purgeOrKeep(plan) {
    try {
      return await this.store.purge(plan);
    } catch (e) {
      this.keepFailed(plan, e);
      throw e;
    }
  }

  keepFailed(plan, error) {
    this.logger.error(
      `mizan: purge failed; the entries it covers are served without the cache until a retry succeeds; plan ${redisPlanJson(plan)}`,
      error,
    );
    this.keepPending(plan);
  }

  /** Merge a failed purge into the pending one (the exchange's `keepPending`). */
  keepPending(plan) {
    this.pending = this.pending === null ? plan : this.mergedWithPending(plan);
    this.pendingVersion += 1;
  }

  mergedWithPending(plan) {
    try {
      return this.server.mergePurgePlans(this.pending, plan);
    } catch {
      return { scopes: [...this.pending.scopes, ...plan.scopes] }; // the kernel failed (a trap): keep both whole, never less
    }
  }

  /** Retry the pending purge as it is now (the exchange's `retryPurge`); what is still pending (null: nothing). */
  async settlePending() {
    const plan = this.pending;
    const version = this.pendingVersion;
    if (plan === null || this.store === null) return plan;
    try {
      await this.store.purge(plan);
    } catch {
      return this.pending;
    }
    if (this.pendingVersion === version) this.pending = null; // nothing failed meanwhile
    return this.pending;
  }
}
