// The server exchange (wit/session.wit `server-exchange`; docs/SERVER.md "The exchange"): one
// request from its arrival to its response, driven as `update(events) -> effects`. A server host
// (src/server/ once it moves onto this) is an interpreter of the effects: it resolves the
// session, asks its revocation hook and predicates, runs functions, does the cache I/O, keeps
// the one pending purge of its process and sends the `respond` effect's response. Every decision
// is the kernel's; this file only translates between these JS shapes and jco's.
//
// begin({request, pending?, now, identity?}) takes the arrival and returns {exchange, effects};
// exchange.arrive(arrival) gives a responded exchange its next request (its first effects).
// Events: {refused: {code, message, details?}} |
//   {identity: identity | null} | {identityFailed: text} | {revoked: bool} |
//   {predicates: [{name, verdict: 'allow' | 'deny' | 'missing' | {raised: text}}]} |
//   {ran: {outcomes: [{ok} | {okJson} | {error} | {exception} | 'missing'], pending?}} |
//   {retried: plan | null} | {found: {body: text | null, ticket: number | null}} |
//   {lookupFailed: text} | 'purged' | {purgeFailed: text} | 'stored' | {putFailed: text}
// Effects: 'resolveIdentity' | {checkRevoked: sid} | {checkPredicates: {predicates, identity}} |
//   {run: {calls: [{function, argsJson}], identity}} | {retryPurge: plan} | {lookup: key} |
//   {purge: plan} | {put: {entry: {key, body, indexKeys, ttlSeconds, bound}, ticket}} |
//   {keepPending: plan} | {log: {level: 'warning' | 'error', text}} | {respond: {status, headers, body}}
import { runtime } from './kernel/full.js';
import { MizanKernelError } from './kernel/errors.js';
import { KernelResource, symbolDispose } from './kernel/resource.js';
import { json, str, u64 } from './kernel/values.js';
import { plan } from './keys.js';
import { Registry } from './registry.js';
import {
  boundOut,
  engineConfig,
  identityIn,
  identityOut,
  outcomeIn,
  protocolErrorIn,
  purgePlanIn,
  requestIn,
  responseOut,
  ttlOut,
} from './server.js';

const optPlan = (p) => (p === undefined || p === null ? undefined : purgePlanIn(p));
const optText = (name, v) => (v === undefined || v === null ? undefined : str(name, v));

function verdictIn(v) {
  if (v === 'allow' || v === 'deny' || v === 'missing') return { tag: v };
  if (v && typeof v === 'object' && 'raised' in v) return { tag: 'raised', val: String(v.raised) };
  throw new TypeError("verdict must be 'allow', 'deny', 'missing' or {raised}");
}

const runOutcomeIn = (o) => (o === 'missing' ? { tag: 'missing' } : { tag: 'done', val: outcomeIn(o) });

/** The arrival as jco's record: `identity` is the session, for a host without the `identity` hook. */
function arrivalIn(a) {
  if (a === null || typeof a !== 'object') throw new TypeError('arrival must be {request, pending?, now, identity?}');
  return { request: requestIn(a.request), pending: optPlan(a.pending), now: u64('arrival.now', a.now), identity: identityIn(a.identity) };
}

/** An event in this module's shape as jco's `{tag, val}`. */
export function eventIn(e) {
  if (e === 'purged' || e === 'stored') return { tag: e };
  const entries = e !== null && typeof e === 'object' ? Object.entries(e) : [];
  if (entries.length !== 1) throw new TypeError(`an event is 'purged', 'stored' or a one-key object, got ${JSON.stringify(e)}`);
  const [[name, d]] = entries;
  switch (name) {
    case 'refused':
      return { tag: 'refused', val: protocolErrorIn(d) };
    case 'identity':
      return { tag: 'identity', val: identityIn(d) };
    case 'identityFailed':
      return { tag: 'identity-failed', val: String(d) };
    case 'revoked':
      return { tag: 'revoked', val: Boolean(d) };
    case 'predicates':
      return { tag: 'predicates', val: d.map((p) => ({ name: str('predicate name', p.name), verdict: verdictIn(p.verdict) })) };
    case 'ran':
      return { tag: 'ran', val: { outcomes: d.outcomes.map(runOutcomeIn), pending: optPlan(d.pending) } };
    case 'retried':
      return { tag: 'retried', val: optPlan(d) };
    case 'found':
      return {
        tag: 'found',
        val: { body: optText('found.body', d.body), ticket: d.ticket === undefined || d.ticket === null ? undefined : u64('found.ticket', d.ticket) },
      };
    case 'lookupFailed':
      return { tag: 'lookup-failed', val: String(d) };
    case 'purgeFailed':
      return { tag: 'purge-failed', val: String(d) };
    case 'putFailed':
      return { tag: 'put-failed', val: String(d) };
    default:
      throw new TypeError(`unknown exchange event ${JSON.stringify(name)}`);
  }
}

/** A jco effect as this module's shape. */
export function effectOut(e) {
  switch (e.tag) {
    case 'resolve-identity':
      return 'resolveIdentity';
    case 'check-revoked':
      return { checkRevoked: e.val };
    case 'check-predicates':
      return { checkPredicates: { predicates: e.val.predicates, identity: identityOut(e.val.identity) } };
    case 'run':
      return {
        run: { calls: e.val.calls.map((c) => ({ function: c.function, argsJson: c.argsJson })), identity: identityOut(e.val.identity) },
      };
    case 'retry-purge':
      return { retryPurge: plan(e.val) };
    case 'lookup':
      return { lookup: e.val };
    case 'purge':
      return { purge: plan(e.val) };
    case 'put': {
      const c = e.val.entry;
      const entry = { key: c.key, body: c.body, indexKeys: c.indexKeys, ttlSeconds: ttlOut(c.ttlSeconds), bound: boundOut(c.bound) };
      return { put: { entry, ticket: e.val.ticket === undefined ? null : Number(e.val.ticket) } };
    }
    case 'keep-pending':
      return { keepPending: plan(e.val) };
    case 'log':
      return { log: { level: e.val.level, text: e.val.text } };
    case 'respond':
      return { respond: responseOut(e.val) };
    default:
      throw new MizanKernelError('internal', `unknown exchange effect ${e.tag}`);
  }
}

/** One request, from arrival to response. Lives in the instance it began in: after a trap it is lost. */
export class Exchange {
  #handle;
  #generation;

  /** Use `server.begin()`. */
  constructor(handle, generation) {
    this.#handle = handle;
    this.#generation = generation;
  }

  /** Apply the events in order; the effects to perform, in order. Throws for a misplaced event (a host bug: answer 500). */
  update(events) {
    const list = events.map(eventIn);
    return this.#call((h) => h.update(list));
  }

  /** The next request, once this exchange has responded: its first effects, as `server.begin()` gives a new one's. */
  arrive(arrival) {
    const a = arrivalIn(arrival);
    return this.#call((h) => h.arrive(a));
  }

  #call(f) {
    return runtime.call((_k, gen) => {
      if (gen !== this.#generation || this.#handle === null) {
        throw new MizanKernelError('trap', "this exchange's instance trapped earlier; its state is lost");
      }
      return f(this.#handle);
    }).map(effectOut);
  }

  /** Free the kernel object now instead of at garbage collection. */
  free() {
    const h = this.#handle;
    this.#handle = null;
    if (h && runtime.generation() === this.#generation) h[symbolDispose]?.();
  }

  [symbolDispose]() {
    this.free();
  }
}

/** One app: the engine (registry and config) and the host's hooks; `begin()` starts a request. */
export class ExchangeServer extends KernelResource {
  /**
   * `registry`: a Registry, its JSON form, or that as text; `config`: Engine.create's;
   * `hooks`: `{identity, revocation}` — whether the host resolves a session and can tell a
   * revoked session id (a host without one is never asked).
   */
  constructor(registry, config = {}, { identity = false, revocation = false } = {}) {
    const registryJson =
      registry instanceof Registry ? JSON.stringify(registry.toJson()) : typeof registry === 'string' ? registry : json('registry', registry);
    const c = engineConfig(config);
    const hooks = { identity: Boolean(identity), revocation: Boolean(revocation) };
    super(runtime, (k) => k.serverExchange.Server.create(registryJson, c, hooks));
  }

  warnings() {
    return this._do((s) => s.warnings());
  }

  /** The pending purge after another failed (what a `keepPending` effect asks to keep). */
  mergePurgePlans(pending, failed) {
    const a = purgePlanIn(pending);
    const b = purgePlanIn(failed);
    return plan(this._do((s) => s.mergePurgePlans(a, b)));
  }

  /** A new exchange for one request, and the effects its arrival asks for: `{exchange, effects}`. */
  begin(arrival) {
    const a = arrivalIn(arrival);
    let out;
    this._do((s) => {
      const begun = s.begin(a);
      out = { exchange: new Exchange(begun.exchange, runtime.generation()), effects: begun.effects.map(effectOut) };
    });
    return out;
  }
}
