/// <reference lib="esnext.disposable" />
// Types for @mizan/kernel-wasm (src/index.js). Values typed `Json` cross the boundary as JSON
// text (JSON.stringify); results the kernel returns as JSON text come back parsed.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The WIT `error-code` names, plus `"trap"` when the instance trapped and was replaced. */
export type KernelErrorCode =
  | 'invalid-json'
  | 'invalid-argument'
  | 'invalid-header'
  | 'invalid-ir'
  | 'invalid-registry'
  | 'not-found'
  | 'trap';

/** Thrown for every kernel error. `details` is the kernel's structured details, parsed (or null). */
export class MizanKernelError extends Error {
  constructor(code: KernelErrorCode, message: string, details?: unknown, options?: { cause?: unknown });
  readonly name: 'MizanKernelError';
  code: KernelErrorCode;
  /** e.g. `{position}` for headers, `{line, column}` or `{problems}` for KDL; null when none. */
  details: any;
}

/** A user subject: a string or a number (stringified by the kernel). null/absent: public entry. */
export type User = string | number | null;

export interface KeyOptions {
  user?: User;
  /** u32, default 0. */
  rev?: number;
}

export interface KeyItem {
  context: string;
  params?: JsonObject;
  user?: User;
  rev?: number;
}

/** A context name (broad) or a scoped entry. */
export type InvalidateEntry = string | { context: string; function?: string; params?: JsonObject };

export interface IndexedEntry {
  key: string;
  indexKeys: string[];
}

export interface PurgeTerm {
  hasParam: string;
  paramEquals: string;
}

export interface PurgeScope {
  base: string;
  terms: PurgeTerm[];
}

/** Purge the union of the scopes; remove purged entries from their index sets; drop empty sets. */
export interface PurgePlan {
  scopes: PurgeScope[];
}

/** JavaScript `String(v)` for scalars, RFC 8785 canonical JSON for arrays and objects. */
export function stringify(value: Json): string;
/** RFC 8785 canonical JSON text of any JSON value. */
export function canonicalJson(value: Json): string;

/** Warnings about a usable secret (shorter than 32 bytes); throws `invalid-argument` when empty. */
export function checkSecret(secret: string): string[];
/** `ctx:{context}:{hex}`. A keyer per secret is cached internally. */
export function deriveCacheKey(secret: string, context: string, params?: JsonObject, options?: KeyOptions): string;
/** One key per item, in order, in one kernel call. */
export function deriveCacheKeys(secret: string, items: KeyItem[]): string[];
/** The key under each secret, current first. */
export function deriveCacheKeyRotation(secrets: string[], context: string, params?: JsonObject, options?: KeyOptions): string[];

/** Keys under one secret; the HMAC key schedule is computed once. */
export class Keyer {
  private constructor(secret: string);
  derive(context: string, params?: JsonObject, options?: KeyOptions): string;
  deriveBatch(items: KeyItem[]): string[];
  indexEntry(context: string, params?: JsonObject, options?: KeyOptions): IndexedEntry;
  purgePlan(entries: InvalidateEntry[]): PurgePlan;
  purgeUserPlan(contexts: string[], user: string | number): PurgePlan;
  /** Free the kernel object now instead of at garbage collection (recreated if used again). */
  free(): void;
  [Symbol.dispose](): void;
}
export function createKeyer(secret: string): Keyer;

/** Entries to the `X-Mizan-Invalidate` value. */
export function formatInvalidateHeader(entries: InvalidateEntry[]): string;
/** The header value to entries; param values come back as strings. Errors carry `{position}`. */
export function parseInvalidateHeader(text: string): InvalidateEntry[];

export interface MergeEntry {
  context: string;
  slot: string;
  value: Json;
  [key: string]: Json;
}

/** The new bundle, or null when the merge changes nothing. */
export function applyMerge(bundle: JsonObject, entry: MergeEntry): JsonObject | null;

export interface Invalidation {
  /** The `invalidate` body list. */
  invalidate: InvalidateEntry[];
  /** The matching header value; null when over the header limits. */
  header: string | null;
}

export interface MergeResolution {
  merge: MergeEntry[];
  diagnostics: Json[];
}

export interface ContextPolicy {
  rev: number;
  /** False when a member says `cache=False`. */
  cacheable: boolean;
  /** The smallest TTL a member names; null means the host's safety TTL. */
  ttlSeconds: number | null;
}

export class Registry {
  private constructor(source: { kdl: string } | { json: string });
  /** Parse KDL IR; errors carry `{line, column}` or `{problems}`. */
  static fromKdl(text: string): Registry;
  /** Read the JSON form (an object, or its JSON text). */
  static fromJson(value: JsonObject | string): Registry;
  /** The canonical KDL form. */
  toKdl(): string;
  /** The full JSON form. */
  toJson(): JsonObject;
  resolveInvalidation(fn: string, args?: JsonObject, options?: { subject?: string | number | null }): Invalidation;
  resolveMerges(fn: string, args: JsonObject, result: Json): MergeResolution;
  /** The edge manifest; `viewUrls` maps context names to extra page routes. */
  manifest(baseUrl: string, viewUrls?: { [context: string]: string[] } | null): JsonObject;
  contextPolicy(context: string): ContextPolicy;
  /** Free the kernel object now instead of at garbage collection (recreated if used again). */
  free(): void;
  [Symbol.dispose](): void;
}

export interface StoreConfig {
  stale_time_ms?: number;
  gc_time_ms?: number;
  retries?: number;
  retry_base_ms?: number;
  retry_max_ms?: number;
  max_instances?: number;
  refetch_on_focus?: boolean;
  refetch_on_reconnect?: boolean;
  seed?: number;
}

/** Request failures fed back to the store. */
export type RequestError = { network: true } | { status: number; body?: Json } | { code: string; message: string };

export interface Drained {
  effects: JsonObject[];
  changed: string[];
  mutations: number[];
}

/** Times (`now`, ms) and ids are non-negative safe integers (or bigints). */
export type U64 = number | bigint;

/** The client store (KERNEL.md §7). After a trap it is recreated empty from its config. */
export class Store {
  private constructor(config?: StoreConfig | null);
  static create(config?: StoreConfig | null): Store;
  start(): void;
  sessionOk(requestId: U64, body: Json): void;
  subscribe(context: string, params: JsonObject | undefined, now: U64): string;
  unsubscribe(key: string, now: U64): void;
  prefetch(context: string, params: JsonObject | undefined, now: U64): string;
  refetch(key: string): void;
  fetchOk(requestId: U64, body: Json, now: U64): void;
  fetchErr(requestId: U64, error: RequestError, now: U64): void;
  mutate(fn: string, args?: JsonObject, optimistic?: MergeEntry[] | null): number;
  callOk(requestId: U64, body: Json, header?: string | null): void;
  callErr(requestId: U64, error: RequestError): void;
  releaseMutation(mutationId: U64): void;
  invalidate(entries: InvalidateEntry[]): void;
  remove(entries?: InvalidateEntry[] | null): void;
  reset(): void;
  tick(now: U64): void;
  focus(now: U64): void;
  online(now: U64): void;
  dehydrate(): { version: number; instances: { context: string; params: JsonObject; data: Json }[] };
  hydrate(payload: Json, now: U64): void;
  snapshot(key: string, now: U64): JsonObject | null;
  mutation(mutationId: U64): JsonObject | null;
  instanceCount(): number;
  drain(now: U64): Drained;
  /** Free the kernel object now instead of at garbage collection (recreated if used again). */
  free(): void;
  [Symbol.dispose](): void;
}

// ---------------------------------------------------------------------------------------------
// Server engine, tokens, origin store, Redis scripts (wit/server.wit).

export interface EngineConfig {
  /** Default `/api/mizan`. */
  basePath?: string;
  /** Bytes; default 1 MiB. */
  bodyLimit?: number;
  /** No cache without it. */
  cacheSecret?: string;
  /** Default 24 h. */
  safetyTtlSeconds?: U64;
  mwtSecret?: string;
  mwtTtlSeconds?: U64;
  jwtSecret?: string;
  accessTtlSeconds?: U64;
  refreshTtlSeconds?: U64;
  tokenLeewaySeconds?: U64;
  /** Per context, the most public (anonymous, shared) entries a store holds; default 1000, 0: unbounded. */
  maxPublicEntries?: number;
}

export interface Identity {
  subject: string | number;
  staff?: boolean;
  superuser?: boolean;
  sessionId?: string | null;
  perm?: string | null;
}

/** An identity as the engine returns it. */
export interface IdentityOut {
  subject: string;
  staff: boolean;
  superuser: boolean;
  sessionId: string | null;
  perm: string | null;
}

export type HeaderPairs = [string, string][];

export interface EngineRequest {
  method: string;
  /** May carry `?query` when `query` is empty. */
  path: string;
  query?: string;
  /** Only those the engine reads (`X-Mizan-Token`, `Authorization`). */
  headers?: HeaderPairs | { [name: string]: string } | { entries(): Iterable<[string, string]> };
  /** Raw body (a string is sent as UTF-8); read at most bodyLimit + 1 bytes. */
  body?: string | Uint8Array | ArrayBuffer;
  /** Django's CSRF token for `GET /session/`. */
  csrfToken?: string | null;
}

/** Send exactly this; `headers` fit `new Response(body, {status, headers})`. */
export interface EngineResponse {
  status: number;
  headers: HeaderPairs;
  body: string;
}

/** A public entry is stored only while `set` holds fewer than `maxEntries` live entries. */
export interface CacheBound {
  set: string;
  maxEntries: number;
}

export interface CachePlan {
  key: string;
  indexKeys: string[];
  ttlSeconds: number;
  /** For a public entry (no user): the set whose size bounds it. */
  bound: CacheBound | null;
}

export interface CachePut extends CachePlan {
  body: string;
}

export interface CallPlan {
  function: string;
  args: JsonObject;
  /** The kernel's JSON text of `args`; finishCall uses it as is. */
  argsJson: string;
  identity: IdentityOut | null;
}

export interface FetchPlan {
  context: string;
  params: JsonObject;
  paramsJson: string;
  /** Every member, in UTF-16 name order. */
  members: { function: string; args: JsonObject; argsJson: string }[];
  identity: IdentityOut | null;
  /** null: no cache configured, or the context says `cache=False`. */
  cache: CachePlan | null;
}

export type Plan =
  | { respond: EngineResponse }
  | { checkPredicates: { predicates: string[]; identity: IdentityOut | null } }
  | { call: CallPlan }
  | { fetch: FetchPlan };

export interface ProtocolError {
  /** The wire code (`NOT_FOUND`) or the WIT name (`not-found`). */
  code: string;
  message?: string;
  details?: Json;
}

/** What the function did: a result, an error raised on purpose, or an unexpected exception. */
export type Outcome = { ok: Json } | { okJson: string } | { error: ProtocolError } | { exception: string };
export type FetchOutcome = { hit: string } | { results: { function: string; outcome: Outcome }[] };

/** Run `purge` (after the function succeeded), then `cachePut`, then send `response`; log `diagnostics`. */
export interface Finished {
  response: EngineResponse;
  cachePut: CachePut | null;
  purge: PurgePlan | null;
  diagnostics: string[];
}

/** Times in seconds since the epoch. */
export interface TokenClaims {
  kind: 'mwt' | 'access' | 'refresh';
  subject: string;
  staff: boolean;
  superuser: boolean;
  perm: string | null;
  sessionId: string | null;
  issuedAt: number;
  expiresAt: number;
}

export interface JwtPair {
  access: string;
  refresh: string;
  accessExpiresAt: number;
  refreshExpiresAt: number;
}

/** What the host tells the exchange (src/exchange.js; docs/SERVER.md "The exchange"). */
export type ExchangeEvent =
  | { refused: ProtocolError }
  | { identity: Identity | null }
  | { identityFailed: string }
  | { revoked: boolean }
  | { predicates: { name: string; verdict: 'allow' | 'deny' | 'missing' | { raised: string } }[] }
  | { ran: { outcomes: (Outcome | 'missing')[]; pending?: PurgePlan | null } }
  | { retried: PurgePlan | null }
  | { found: { body: string | null; ticket: U64 | null } }
  | { lookupFailed: string }
  | 'purged'
  | { purgeFailed: string }
  | 'stored'
  | { putFailed: string };

/** What the exchange asks the host to do; `respond` ends it. */
export type ExchangeEffect =
  | 'resolveIdentity'
  | { checkRevoked: string }
  | { checkPredicates: { predicates: string[]; identity: IdentityOut | null } }
  | { run: { calls: { function: string; argsJson: string }[]; identity: IdentityOut | null } }
  | { retryPurge: PurgePlan }
  | { lookup: string }
  | { purge: PurgePlan }
  | { put: { entry: CachePut; ticket: number | null } }
  | { keepPending: PurgePlan }
  | { log: { level: 'warning' | 'error'; text: string } }
  | { respond: EngineResponse };

/** One request from arrival to response (`server.begin()`). */
export class Exchange {
  private constructor();
  /** The effects to perform, in order; throws for a misplaced event (answer 500). */
  update(events: ExchangeEvent[]): ExchangeEffect[];
  free(): void;
}

/** One app's engine and hooks; a server host interprets its exchanges' effects. */
export class ExchangeServer {
  constructor(registry: Registry | JsonObject | string, config?: EngineConfig, hooks?: { identity?: boolean; revocation?: boolean });
  warnings(): string[];
  /** The pending purge after another failed (what a `keepPending` effect asks to keep). */
  mergePurgePlans(pending: PurgePlan, failed: PurgePlan): PurgePlan;
  /** `identity`: the session, for a host without the `identity` hook (else the exchange asks for it). */
  begin(arrival: { request: EngineRequest; pending?: PurgePlan | null; now: U64; identity?: Identity | null }): {
    exchange: Exchange;
    effects: ExchangeEffect[];
  };
  free(): void;
}

/** The server protocol engine for one registry and config. */
export class Engine {
  private constructor(registry: Registry | JsonObject | string, config?: EngineConfig);
  static create(registry: Registry | JsonObject | string, config?: EngineConfig): Engine;
  warnings(): string[];
  /** `now`: ms since the epoch. `answers`: the verdicts after a `checkPredicates` plan. */
  plan(request: EngineRequest, now: U64, options?: { identity?: Identity | null; answers?: { name: string; allowed: boolean }[] }): Plan;
  finishCall(call: CallPlan | { function: string; args?: JsonObject; identity?: Identity | null }, outcome: Outcome): Finished;
  finishFetch(context: string, cache: CachePlan | null, outcome: FetchOutcome): Finished;
  errorResponse(error: ProtocolError): EngineResponse;
  /** Whether `plan` takes the identity from a token header (or refuses a bad or ambiguous one) rather than the session. */
  readsToken(request: EngineRequest): boolean;
  /** Purges that failed, kept to retry: both plans, each scope once. */
  mergePurgePlans(pending: PurgePlan, failed: PurgePlan): PurgePlan;
  purgePlan(entries: InvalidateEntry[]): PurgePlan;
  purgeUserPlan(user: string | number): PurgePlan;
  mintMwt(identity: Identity, now: U64): string;
  /** Refused tokens throw `invalid-argument` with details `{reason}`. */
  verifyMwt(token: string, now: U64): TokenClaims;
  mintJwtPair(identity: Identity, sessionId: string, now: U64): JwtPair;
  verifyJwt(token: string, kind: 'access' | 'refresh', now: U64): TokenClaims;
  free(): void;
  [Symbol.dispose](): void;
}

/** The in-memory origin cache; recreated empty after a trap. */
export class OriginStore {
  /** 0 takes the default (10 000 entries, 64 MiB). */
  constructor(maxEntries?: number, maxBytes?: U64);
  get(key: string, now: U64): string | null;
  put(key: string, body: string, indexKeys: string[], ttlSeconds: U64, now: U64): boolean;
  /** The deleted keys, sorted. */
  purge(plan: PurgePlan): string[];
  /** The body (null: a miss) and the ticket a later `putEntry` presents. */
  lookup(key: string, now: U64): { body: string | null; ticket: number };
  /** Store the engine's put unless a purge of its sets started after `ticket` (null: no check) or its bound set is full. */
  putEntry(put: CachePut, ticket: U64 | null, now: U64): boolean;
  /** One step of a purge over at most `limit` set members (0: 256); cursor null: done. */
  purgeStep(plan: PurgePlan, cursor?: string | null, limit?: number): { purged: string[]; cursor: string | null };
  sweep(now: U64): number;
  len(): number;
  indexSets(): number;
  clear(): void;
  free(): void;
  [Symbol.dispose](): void;
}

/** The request headers the engine reads, lower-case (`x-mizan-token`, `authorization`): a server passes the engine these and no other. */
export function requestHeaders(): string[];
export function redisPutScript(): string;
export function redisPurgeScript(): string;
export function redisPlanJson(plan: PurgePlan): string;
/** Whether `plan` purges an entry with these index keys. */
export function purgeCovers(plan: PurgePlan, indexKeys: string[]): boolean;

/** How many kernel instances this module has created (1 until a trap happened). */
export function instanceGeneration(): number;

// ---------------------------------------------------------------------------------------------
// The client session (wit/session.wit): what `createClient` interprets. For hosts of their own.

/**
 * One client session. `update(events, now)` takes events and returns the output in jco's shapes
 * (variants as `{tag, val}`, records in camelCase, u64 as bigint): see wit/session.wit. After a
 * trap it comes back empty; replay your subscriptions into it.
 */
export class ClientSession {
  /** `config`: the store's snake_case keys, `request_timeout_ms`, `transport` (`"http"` or `"operation"`). */
  constructor(config?: JsonObject | null);
  update(events: unknown[], now: number): any;
  snapshot(key: string, now: number): JsonObject | null;
  dehydrate(): JsonObject;
  instanceCount(): number;
  idle(): boolean;
  free(): void;
}
/** An HTTP answer as the session reads it: `{ok: bodyJson}` or `{err: request-error record}`. */
export function readResponse(status: number, body: string): { ok?: string; err?: JsonObject };

// ---------------------------------------------------------------------------------------------
// The client (also `@mizan/kernel-wasm/client`).

export {
  createClient,
  httpTransport,
  tauriTransport,
  channelTransport,
  serveChannel,
  MizanRequestError,
} from './client/index.js';
export type { ClientOptions, MizanClient, Snapshot, Transport, MutationObserver, MutationState } from './client/index.js';
