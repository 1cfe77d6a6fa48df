// @mizan/kernel-wasm/svelte: stores over the client (src/client/). Each follows the readable
// store contract (`subscribe(run) → unsubscribe`, `run` called at once with the current value),
// so `$store` works in Svelte 5 components (runes mode) and in Svelte 4. No state of its own.
import { getContext, setContext } from 'svelte';

const KEY = Symbol.for('@mizan/kernel-wasm/svelte');

/** During component init: make `client` available to descendants. */
export function setMizanClient(client) {
  if (!client) throw new TypeError('setMizanClient needs a client');
  setContext(KEY, client);
  return client;
}

/** During component init: the client set by an ancestor. */
export function getMizanClient() {
  const client = getContext(KEY);
  if (!client) throw new Error('getMizanClient: no client set (setMizanClient(client) in a parent component)');
  return client;
}

function view(snap, refetch) {
  return {
    data: snap.data,
    status: snap.status,
    isLoading: snap.isLoading,
    isFetching: snap.isFetching,
    isStale: snap.isStale,
    isSuccess: snap.isSuccess,
    isError: snap.isError,
    error: snap.error,
    updatedAt: snap.updatedAt,
    refetch,
  };
}

/**
 * A readable store of one context instance: `{data, status, isLoading, isFetching, isStale,
 * isSuccess, isError, error, updatedAt, refetch}`. For params that change, derive a new store:
 * `const user = $derived(contextStore(client, 'user', { user_id: id }))`, then use `$user`.
 */
export function contextStore(client, name, params = {}) {
  const refetch = () => client.refetch(name, params);
  return {
    subscribe(run) {
      let last = client.getSnapshot(name, params);
      run(view(last, refetch));
      return client.subscribe(name, params, (s) => {
        if (s === last) return;
        last = s;
        run(view(s, refetch));
      });
    },
    refetch,
  };
}

/**
 * A readable store of a server function call, `{status, isPending, isSuccess, isError, data,
 * error, variables}`, with `mutate`, `mutateAsync` and `reset` on the store object.
 */
export function mutationStore(client, fn, options = undefined) {
  const observer = client.mutation(fn, options);
  return {
    subscribe(run) {
      run(observer.getSnapshot());
      return observer.subscribe(run);
    },
    mutate: observer.mutate,
    mutateAsync: observer.mutateAsync,
    reset: observer.reset,
  };
}

/** `contextStore` with the client from `setMizanClient` (call during component init). */
export function useMizanContext(name, params = {}) {
  return contextStore(getMizanClient(), name, params);
}

/** `mutationStore` with the client from `setMizanClient` (call during component init). */
export function useMutation(fn, options = undefined) {
  return mutationStore(getMizanClient(), fn, options);
}
