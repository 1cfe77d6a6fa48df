// Types for @mizan/kernel-wasm/svelte: readable stores (Svelte 4 and 5).
import type { Json, JsonObject } from '../index.js';
import type { MizanClient, MizanRequestError, MutationOptions, MutationState, Status } from '../client/index.js';

type Unsubscriber = () => void;
export interface Readable<T> {
  subscribe(run: (value: T) => void, invalidate?: () => void): Unsubscriber;
}

export function setMizanClient(client: MizanClient): MizanClient;
export function getMizanClient(): MizanClient;

export interface ContextValue<D extends object = JsonObject> {
  data: D | undefined;
  status: Status;
  isLoading: boolean;
  isFetching: boolean;
  isStale: boolean;
  isSuccess: boolean;
  isError: boolean;
  error: MizanRequestError | null;
  updatedAt: number | null;
  refetch(): Promise<D>;
}
export interface ContextStore<D extends object = JsonObject> extends Readable<ContextValue<D>> {
  refetch(): Promise<D>;
}
export function contextStore<D extends object = JsonObject>(client: MizanClient, name: string, params?: JsonObject): ContextStore<D>;
export function useMizanContext<D extends object = JsonObject>(name: string, params?: JsonObject): ContextStore<D>;

export interface MutationStore<R = Json> extends Readable<MutationState<R>> {
  mutate(args?: JsonObject, options?: MutationOptions<R>): Promise<R | undefined>;
  mutateAsync(args?: JsonObject, options?: MutationOptions<R>): Promise<R>;
  reset(): void;
}
export function mutationStore<R = Json>(client: MizanClient, fn: string, options?: MutationOptions<R>): MutationStore<R>;
export function useMutation<R = Json>(fn: string, options?: MutationOptions<R>): MutationStore<R>;
