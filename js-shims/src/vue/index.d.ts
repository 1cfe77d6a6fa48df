// Types for @mizan/kernel-wasm/vue. Needs Vue ≥ 3.3 (toValue).
import type { ComputedRef, MaybeRefOrGetter, Plugin, ShallowRef } from 'vue';
import type { Json, JsonObject } from '../index.js';
import type { MizanClient, MizanRequestError, MutationOptions, Snapshot, Status } from '../client/index.js';

export const MIZAN_KEY: unique symbol;
export function provideMizan(client: MizanClient): MizanClient;
export function mizanPlugin(client: MizanClient): Plugin;
export function useMizanClient(): MizanClient;

export interface ContextRefs<D extends object = JsonObject> {
  snapshot: Readonly<ShallowRef<Snapshot<D>>>;
  data: ComputedRef<D | undefined>;
  status: ComputedRef<Status>;
  isLoading: ComputedRef<boolean>;
  isFetching: ComputedRef<boolean>;
  isStale: ComputedRef<boolean>;
  isSuccess: ComputedRef<boolean>;
  isError: ComputedRef<boolean>;
  error: ComputedRef<MizanRequestError | null>;
  updatedAt: ComputedRef<number | null>;
  refetch(): Promise<D>;
}
export function useMizanContext<D extends object = JsonObject>(
  name: MaybeRefOrGetter<string>,
  params?: MaybeRefOrGetter<JsonObject>,
  options?: { enabled?: MaybeRefOrGetter<boolean>; client?: MizanClient },
): ContextRefs<D>;

export interface MutationRefs<R = Json> {
  mutate(args?: JsonObject, options?: MutationOptions<R>): Promise<R | undefined>;
  mutateAsync(args?: JsonObject, options?: MutationOptions<R>): Promise<R>;
  reset(): void;
  stop(): void;
  status: ComputedRef<'idle' | 'pending' | 'success' | 'error'>;
  isPending: ComputedRef<boolean>;
  isSuccess: ComputedRef<boolean>;
  isError: ComputedRef<boolean>;
  data: ComputedRef<R | undefined>;
  error: ComputedRef<MizanRequestError | null>;
  variables: ComputedRef<JsonObject | undefined>;
}
export function useMutation<R = Json>(fn: string, options?: MutationOptions<R> & { client?: MizanClient }): MutationRefs<R>;
