// Types for @mizan/kernel-wasm/react. Needs React ≥ 18 (useSyncExternalStore).
import type { ReactNode } from 'react';
import type { Json, JsonObject } from '../index.js';
import type { MizanClient, MizanRequestError, MutationOptions, MutationState, Status } from '../client/index.js';

export function MizanProvider(props: { client: MizanClient; children?: ReactNode }): ReactNode;
export function useMizanClient(): MizanClient;

export interface ContextResult<D extends object = JsonObject> {
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
export function useMizanContext<D extends object = JsonObject>(name: string, params?: JsonObject, options?: { enabled?: boolean }): ContextResult<D>;

export interface MutationResult<R = Json> extends MutationState<R> {
  mutate(args?: JsonObject, options?: MutationOptions<R>): Promise<R | undefined>;
  mutateAsync(args?: JsonObject, options?: MutationOptions<R>): Promise<R>;
  reset(): void;
}
export function useMutation<R = Json>(fn: string, options?: MutationOptions<R>): MutationResult<R>;
