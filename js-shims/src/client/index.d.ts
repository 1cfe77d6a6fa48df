// Types for @mizan/kernel-wasm/client (src/client/index.js).
import type { Json, JsonObject, MergeEntry, InvalidateEntry } from '../index.js';

/** The one error type of every transport and every rejected client promise. */
export class MizanRequestError extends Error {
  constructor(info?: { code?: string; message?: string; details?: Json | null; status?: number | null; network?: boolean; body?: Json | null }, options?: { cause?: unknown });
  name: 'MizanRequestError';
  /** The protocol's error code (`NOT_FOUND`, `INTERNAL_ERROR`, `NETWORK_ERROR`, …): portable across transports. */
  code: string;
  details: Json | null;
  /** The HTTP status, when the transport has one (null over IPC and for network failures). */
  status: number | null;
  network: boolean;
  /** The parsed body of an HTTP error response, if any. */
  body: Json | null;
  toJSON(): { code: string; message: string; details: Json | null; status: number | null; network: boolean; body?: Json };
}
export function asRequestError(e: unknown): MizanRequestError;
/** The failure as the client session's `failed` outcome takes it (`MizanRequestError#toJSON()`). */
export function toStoreError(e: unknown): JsonObject;

export interface FetchRequest {
  /** The kernel's instance key. */
  key?: string;
  context: string;
  params: JsonObject;
  /** The kernel's canonical query string of `params` (percent-encoded, sorted). */
  query: string;
}
export interface CallRequest {
  fn: string;
  args: JsonObject;
  csrfToken: string | null;
}
/** One request of the client session in HTTP form, relative to the transport's base URL. */
export interface HttpRequest {
  method: 'GET' | 'POST';
  /** `ctx/{context}/?{query}`, `call/` or `session/`. */
  path: string;
  /** The protocol's own headers (`Content-Type`, `X-CSRFToken`); add `Accept: application/json`. */
  headers: [string, string][];
  body?: string;
  /** Give up after this long (0: no limit) and reject with a network MizanRequestError. */
  timeoutMs: number;
}
/** What came of an HTTP request; the kernel reads status, envelope and body. */
export interface HttpAnswer {
  status: number;
  body: string;
  /** The `X-Mizan-Invalidate` header, if any. */
  invalidate?: string | null;
}
/** A transport that speaks HTTP: it performs the session's requests as they are. */
export interface HttpRequestTransport {
  request(request: HttpRequest): Promise<HttpAnswer>;
}
/** A transport without URLs (IPC, a channel, your own): it is asked for operations. */
export interface OperationTransport {
  /** The context bundle (`{member: value, …}`). Throw (reject with) a MizanRequestError on failure. */
  fetch(request: FetchRequest): Promise<JsonObject>;
  /** The call response body (`{result, merge?, invalidate}`) and its `X-Mizan-Invalidate` header. */
  call(request: CallRequest): Promise<{ body: Json; header: string | null }>;
  /** `{csrfToken}`; optional. */
  session?(): Promise<JsonObject>;
}
/** Whatever the transport, consumer code is the same; the client asks `request` when there is one. */
export type Transport = HttpRequestTransport | OperationTransport;

export const INVALIDATE_HEADER: 'X-Mizan-Invalidate';
export interface HttpTransportOptions {
  /** Default `/api/mizan` (absolute in Node). */
  baseUrl?: string;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string> | (() => Record<string, string>);
  credentials?: RequestCredentials;
}
export function httpTransport(options?: HttpTransportOptions): HttpRequestTransport & OperationTransport & { kind: 'http'; baseUrl: string; session(): Promise<JsonObject> };

export const TAURI_COMMAND: 'plugin:mizan|mizan_invoke';
export type TauriInvoke = (cmd: string, args: { envelope: JsonObject }) => Promise<any>;
/** `invoke` defaults to `@tauri-apps/api/core`'s (an optional peer dependency), imported on first use. */
export function tauriTransport(options?: { invoke?: TauriInvoke; command?: string }): OperationTransport & { kind: 'tauri' };
export function tauriError(payload: unknown): MizanRequestError;

/** A MessagePort, Worker, window, node:worker_threads port, or `{send, listen}`. */
export type ChannelPort =
  | { postMessage(message: any, ...rest: any[]): void; addEventListener?: (...a: any[]) => void; removeEventListener?: (...a: any[]) => void; start?: () => void; onmessage?: any }
  | { send(message: any): void; listen(handler: (message: any) => void): (() => void) | { dispose(): void } };
export function channelTransport(port: ChannelPort, options?: { timeoutMs?: number; targetOrigin?: string }): OperationTransport & { kind: 'channel'; close(): void };
/** Answer a channel's requests with `transport`; returns a function that stops. */
export function serveChannel(port: ChannelPort, transport: OperationTransport, options?: { targetOrigin?: string }): () => void;

/**
 * A source of one kind of event (TanStack Query's focusManager / onlineManager seam):
 * `setEventListener(setup)` replaces how events are received; `setup(fire)` returns a cleanup.
 */
export class EventSource {
  constructor(setup: (fire: () => void) => (() => void) | undefined);
  setEventListener(setup: (fire: () => void) => (() => void) | undefined): void;
  subscribe(listener: () => void): () => void;
}
/** The page regained focus (default: `document` visibility). Clients without `document`/`listen` options use it. */
export const focusManager: EventSource;
/** The network came back (default: `window`'s `online`). */
export const onlineManager: EventSource;

export type Status = 'idle' | 'loading' | 'success' | 'error';

/** One instance, as the client hands it out: the same object while nothing visible changed. */
export interface Snapshot<D extends object = JsonObject> {
  key: string | null;
  context: string | null;
  params: JsonObject | null;
  status: Status;
  /** The bundle (function name → value); slots keep their identity while their version holds. */
  data: D | undefined;
  error: MizanRequestError | null;
  /** No data yet, a fetch running or a retry waiting. */
  isLoading: boolean;
  isFetching: boolean;
  /** As of the last change (staleness also grows with time). */
  isStale: boolean;
  isSuccess: boolean;
  isError: boolean;
  updatedAt: number | null;
  slotVersions: { [slot: string]: number };
}
export const IDLE_SNAPSHOT: Snapshot<never>;

export interface MutationState<R = Json> {
  status: 'idle' | 'pending' | 'success' | 'error';
  isIdle: boolean;
  isPending: boolean;
  isSuccess: boolean;
  isError: boolean;
  data: R | undefined;
  error: MizanRequestError | null;
  variables: JsonObject | undefined;
}
export const IDLE_MUTATION: MutationState<never>;

/** Merge entries applied at once and rolled back exactly if the call fails. */
export type Optimistic = MergeEntry[] | ((args: JsonObject) => MergeEntry[] | null | undefined);

export interface MutationOptions<R = Json> {
  optimistic?: Optimistic;
  onSuccess?(result: R, args: JsonObject): void;
  onError?(error: MizanRequestError, args: JsonObject): void;
  onSettled?(result: R | undefined, error: MizanRequestError | null, args: JsonObject): void;
}

export interface MutationObserver<R = Json> {
  readonly fn: string;
  /** Resolves with the result; never rejects (the failure lands in the state and onError). */
  mutate(args?: JsonObject, options?: MutationOptions<R>): Promise<R | undefined>;
  mutateAsync(args?: JsonObject, options?: MutationOptions<R>): Promise<R>;
  subscribe(listener: (state: MutationState<R>) => void): () => void;
  getSnapshot(): MutationState<R>;
  reset(): void;
  setOptions(options: MutationOptions<R> | undefined): void;
}

export interface ClientOptions {
  transport: Transport;
  /** Default 0 (ms). */
  staleTime?: number;
  /** Default 5 min; `Infinity` is accepted. */
  gcTime?: number;
  /** Default 3 (network errors and 5xx only); `false` = 0. */
  retry?: number | false;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Default 1000 (unobserved instances evicted LRU beyond it). */
  maxInstances?: number;
  refetchOnWindowFocus?: boolean;
  refetchOnReconnect?: boolean;
  /** Retry jitter seed (default random). */
  seed?: number;
  /** Give up on a request after this long (default 10 000 ms; 0: no limit): a network error, retried. */
  requestTimeoutMs?: number;
  // The snake_case keys of wit/session.wit, accepted as they are (no other key is: a typo fails
  // to type-check, and the kernel refuses it at run time).
  stale_time_ms?: number;
  gc_time_ms?: number;
  retries?: number;
  retry_base_ms?: number;
  retry_max_ms?: number;
  max_instances?: number;
  refetch_on_focus?: boolean;
  refetch_on_reconnect?: boolean;
  request_timeout_ms?: number;
  /** The clock, ms (default Date.now). */
  now?: () => number;
  timers?: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(id: unknown): void };
  /** Event targets for `online` / `visibilitychange` (default the globals; none in Node). */
  window?: EventTarget | { addEventListener?: Function; __MIZAN_SSR_DATA__?: Json } | null;
  document?: (EventTarget & { visibilityState?: string }) | null;
  /** false: no focus/online listeners. */
  listen?: boolean;
  /** A dehydrated payload (default `window.__MIZAN_SSR_DATA__`). */
  hydrate?: DehydratedState | Json;
  /** Listener and unexpected errors (default reportError). */
  onError?: (error: unknown) => void;
}

export interface DehydratedState {
  version: number;
  instances: { context: string; params: JsonObject; data: JsonObject }[];
}

export interface MizanClient {
  readonly transport: Transport;
  subscribe(context: string, params: JsonObject | undefined, listener: (snapshot: Snapshot) => void): () => void;
  getSnapshot<D extends object = JsonObject>(context: string, params?: JsonObject): Snapshot<D>;
  fetch<D extends object = JsonObject>(context: string, params?: JsonObject): Promise<D>;
  prefetch(context: string, params?: JsonObject): void;
  refetch<D extends object = JsonObject>(context: string, params?: JsonObject): Promise<D>;
  mutate<R = Json>(fn: string, args?: JsonObject, options?: { optimistic?: Optimistic }): Promise<R>;
  mutation<R = Json>(fn: string, options?: MutationOptions<R>): MutationObserver<R>;
  invalidate(entries: InvalidateEntry | InvalidateEntry[]): void;
  remove(entries?: InvalidateEntry | InvalidateEntry[] | null): void;
  reset(): void;
  /**
   * `GET session/` (the CSRF token; calls wait for it). Rejects as soon as an attempt fails (the
   * client keeps retrying for its calls); never needed before rendering: do not await it first.
   */
  start(): Promise<JsonObject>;
  dehydrate(): DehydratedState;
  /** A `dehydrate()` result (or its JSON round trip). */
  hydrate(payload: DehydratedState | Json): void;
  focus(): void;
  online(): void;
  instanceCount(): number;
  close(): void;
}

export function createClient(options: ClientOptions): MizanClient;
