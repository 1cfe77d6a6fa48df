// @mizan/kernel-wasm/server: server functions declared in JS/TS, served through the kernel's
// engine on the Fetch API (Node, Deno, Bun, Workers) and node:http.
import type {
  CachePut,
  Engine,
  EngineConfig,
  EngineResponse,
  Identity,
  IdentityOut,
  InvalidateEntry,
  Json,
  PurgePlan,
  Registry,
} from '../index.js';

/** An IR type: `integer`/`int`, `number`/`float`, `string`/`str`, `boolean`/`bool`, `any`, `null`, `upload`, `list<T>`, `map<T>`, `optional<T>`, a declared type or enum. */
export type IrType = string;

/** A param or field: `'int'` (required), `'int?'` or `'optional<int>'` (not required), or `{type, required}`. */
export type MemberSpec = IrType | { type: IrType; required?: boolean };

/** The session identity a host gives, or null (anonymous). */
export type SessionIdentity = Identity | null | undefined;

/** What a function sees. `request` is the host's request (a Fetch `Request`, or node's `IncomingMessage`). */
export interface FunctionContext<R = unknown> {
  /** The effective identity: a valid token's, else the session's; null when anonymous. */
  identity: IdentityOut | null;
  /** The caller's subject (user id as text), or null. */
  user: string | null;
  request: R;
  app: MizanApp;
}

/** A predicate for `auth`: true lets the caller in. */
export type Predicate<R = unknown> = (identity: IdentityOut | null, request: R) => boolean | Promise<boolean>;

/** A registered server function: `(ctx, args)`; integers past 2^53 arrive as `bigint`. */
export type ServerFunction<A = any, T = unknown, R = any> = (ctx: FunctionContext<R>, args: A) => T | Promise<T>;

export type AuthSpec = boolean | 'required' | 'staff' | 'superuser' | `predicate:${string}` | Predicate<any>;

export interface ClientOptions {
  /** The IR name; else the function's own name. */
  name?: string;
  /** The context this function reads into (a read); none: a mutation. */
  context?: string;
  params?: { [name: string]: MemberSpec };
  /** The result's IR type; default `any`. */
  returns?: IrType;
  /** Contexts and functions (names, or registered functions) a mutation invalidates. */
  affects?: string | ServerFunction | (string | ServerFunction)[];
  /** Contexts its result merges into. */
  merge?: string | string[];
  auth?: AuthSpec;
  /** Not client-callable (a view, a webhook). */
  private?: boolean;
  view?: boolean;
  websocket?: boolean;
  route?: string;
  methods?: string | string[];
  rev?: number;
  /** `false`: never cached; a number: the TTL in seconds. */
  cache?: boolean | number;
  /** The context's data is the same for every caller. */
  shared?: boolean;
}

/** A set of server functions and the registry they make. */
export class Functions {
  context(name: string, flags?: { shared?: boolean }): this;
  type(name: string, fields: { [field: string]: MemberSpec }): string;
  enum(name: string, values: string[]): string;
  predicate<R = unknown>(name: string, fn: Predicate<R>): Predicate<R>;
  client<A = any, T = unknown, R = any>(options: ClientOptions, fn: ServerFunction<A, T, R>): ServerFunction<A, T, R>;
  client<A = any, T = unknown, R = any>(name: string, options: ClientOptions, fn: ServerFunction<A, T, R>): ServerFunction<A, T, R>;
  /** The registry's JSON form. */
  toJson(): { version: number; contexts: object; functions: object; types: object; enums?: object };
  /** The kernel's Registry (graph-checked). */
  registry(): Registry;
  /** The canonical KDL IR, as the kernel writes it. */
  toKdl(): string;
}

export function defineFunctions(): Functions;

/** An origin-cache store: the kernel's in-memory one, Redis, or your own over the same three calls. */
export interface OriginCache {
  lookup(key: string): Promise<{ body: string | null; ticket: number | null }>;
  put(put: CachePut, ticket: number | null): Promise<boolean>;
  purge(plan: PurgePlan): Promise<string[]>;
}

export class MemoryOriginStore implements OriginCache {
  /** 0 takes the default (10 000 entries, 64 MiB). */
  constructor(bounds?: { maxEntries?: number; maxBytes?: number });
  lookup(key: string): Promise<{ body: string | null; ticket: number }>;
  put(put: CachePut, ticket: number | null): Promise<boolean>;
  purge(plan: PurgePlan): Promise<string[]>;
}

/** The subset of a node-redis client the store uses. */
export interface RedisCommandClient {
  sendCommand(args: string[]): Promise<unknown>;
}

export class RedisOriginStore implements OriginCache {
  constructor(client: RedisCommandClient, options?: { prefix?: string });
  /** node-redis (`redis`, an optional peer dependency): connect and load the scripts. */
  static connect(url: string, options?: { prefix?: string; clientOptions?: object }): Promise<RedisOriginStore>;
  readonly prefix: string;
  /** SCRIPT LOAD the kernel's two scripts. */
  load(): Promise<this>;
  close(): Promise<void>;
  lookup(key: string): Promise<{ body: string | null; ticket: number }>;
  put(put: CachePut, ticket: number | null): Promise<boolean>;
  purge(plan: PurgePlan): Promise<string[]>;
}

export interface Logger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface MizanOptions<R = Request> extends Omit<EngineConfig, 'cacheSecret'> {
  /** `'memory'` (the kernel's in-memory store), a store, or none. */
  cache?: 'memory' | 'none' | OriginCache | null;
  /** Required with a shared store; an in-memory cache gets a random one. */
  cacheSecret?: string;
  /** The session identity of a request (cookie, header…); may be async. A thrown error is the engine's 500. */
  identity?: (request: R) => SessionIdentity | Promise<SessionIdentity>;
  /** A JWT whose `sid` is revoked is answered 401 "Session revoked". */
  revoked?: (sessionId: string) => boolean | Promise<boolean>;
  /** Predicates beside those of `functions`. */
  predicates?: { [name: string]: Predicate<R> };
  /** Default: console. */
  logger?: Logger;
}

export type WireCode =
  | 'NOT_FOUND'
  | 'BAD_REQUEST'
  | 'VALIDATION_ERROR'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_IMPLEMENTED'
  | 'INTERNAL_ERROR'
  | 'PAYLOAD_TOO_LARGE'
  | 'METHOD_NOT_ALLOWED';

/** The app behind a handler: the engine, the registry, the store, purges. */
export class MizanApp {
  constructor(functions: Functions, options?: MizanOptions<any>);
  readonly engine: Engine;
  readonly registry: Registry;
  readonly store: OriginCache | null;
  readonly basePath: string;
  readonly bodyLimit: number;
  /** The response for an error the host found itself, in the engine's envelope. */
  errorResponse(code: WireCode, message?: string): EngineResponse;
  /** Purge what invalidation entries cover (webhooks, admin actions); a failure is thrown and kept to retry. */
  purge(entries: InvalidateEntry[]): Promise<string[]>;
  /** Every origin-cache entry of one user, in every context (GDPR erasure). */
  purgeUser(user: string | number | bigint): Promise<string[]>;
}

export interface MizanHandler {
  (request: Request): Promise<Response>;
  readonly app: MizanApp;
}

/** A fetch handler serving the protocol (Node, Deno, Bun, Workers; Hono, Next.js route handlers). */
export function mizanHandler(functions: Functions, options?: MizanOptions<Request>): MizanHandler;

/** What the node:http front door reads of node's request (an `IncomingMessage` is one). */
export interface NodeRequestLike {
  method?: string;
  url?: string;
  headers: { [name: string]: string | string[] | undefined };
  rawHeaders: string[];
}

/** A `(req, res)` listener: requests under the base path go to Mizan, others to `fallback` (default: the engine's 404). */
export function nodeListener<Req extends NodeRequestLike, Res>(
  handler: MizanHandler | MizanApp,
  options?: { fallback?: (req: Req, res: Res) => unknown },
): (req: Req, res: Res) => void;

/** What `createNodeServer` returns: a node `http.Server`. */
export interface NodeServer {
  listen(port?: number, host?: string, callback?: () => void): this;
  close(callback?: (err?: Error) => void): this;
  address(): { port: number; address: string; family: string } | string | null;
  on(event: string, listener: (...args: any[]) => void): this;
}

/** An `http.Server` serving the handler; method tokens Node's parser refuses are answered by the engine too. */
export function createNodeServer<Req extends NodeRequestLike = NodeRequestLike, Res = any>(
  handler: MizanHandler | MizanApp,
  options?: { fallback?: (req: Req, res: Res) => unknown; [serverOption: string]: unknown },
): NodeServer;

/** A header of a host request, from node:http or the Fetch API. */
export function requestHeader(request: { headers: unknown } | null | undefined, name: string): string | null;

/** A number written on the wire exactly as `text` (`exactNumber('7.0')`). */
export function exactNumber(text: string | number): { readonly value: string; readonly isLosslessNumber: true };

export const PROTOCOL_CODES: { readonly [code in WireCode]: number };

/** Throw it from a function to answer with that error on purpose. */
export class ProtocolError extends Error {
  constructor(code: WireCode | Lowercase<string>, message?: string, details?: Json);
  readonly code: WireCode;
  readonly protocolMessage: string;
  readonly details: Json | undefined;
}
export class NotFound extends ProtocolError {
  constructor(message?: string, details?: Json);
}
export class BadRequest extends ProtocolError {
  constructor(message?: string, details?: Json);
}
export class Unauthorized extends ProtocolError {
  constructor(message?: string, details?: Json);
}
export class Forbidden extends ProtocolError {
  constructor(message?: string, details?: Json);
}
export class NotImplemented extends ProtocolError {
  constructor(message?: string, details?: Json);
}
/** A 422 with `{fields: {name: [message]}}`. */
export class ValidationFailed extends ProtocolError {
  constructor(fields: { [field: string]: string[] }, message?: string);
}
