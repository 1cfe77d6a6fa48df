// @mizan/kernel-wasm/react: hooks over the client (src/client/), on useSyncExternalStore. No
// state of its own: snapshots come from the client (which gets them from the kernel store), and
// keep their identity while unchanged, so components re-render only for their own instances.
import { createContext, createElement, useContext, useMemo, useSyncExternalStore } from 'react';
import { IDLE_SNAPSHOT } from '../client/index.js';

const MizanContext = createContext(null);

/** `<MizanProvider client={createClient(...)}>…</MizanProvider>` */
export function MizanProvider({ client, children }) {
  if (!client) throw new TypeError('MizanProvider needs a client');
  return createElement(MizanContext.Provider, { value: client }, children);
}

/** The client of the nearest MizanProvider. */
export function useMizanClient() {
  const client = useContext(MizanContext);
  if (!client) throw new Error('useMizanClient: no <MizanProvider client={…}> above this component');
  return client;
}

const NO_PARAMS = Object.freeze({});
const noop = () => {};

/**
 * One context instance: `{data, status, isLoading, isFetching, isStale, isSuccess, isError,
 * error, updatedAt, refetch}`. `options.enabled === false` observes nothing (status `idle`).
 */
export function useMizanContext(name, params = NO_PARAMS, options = undefined) {
  const client = useMizanClient();
  const enabled = options?.enabled !== false;
  const id = `${name}\u0000${JSON.stringify(params)}`;
  // Re-created only when the instance changes (by value, not by the params object's identity).
  const bound = useMemo(
    () => ({
      subscribe: enabled ? (onChange) => client.subscribe(name, params, onChange) : () => noop,
      getSnapshot: enabled ? () => client.getSnapshot(name, params) : () => IDLE_SNAPSHOT,
      refetch: () => client.refetch(name, params),
    }),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [client, id, enabled],
  );
  const snap = useSyncExternalStore(bound.subscribe, bound.getSnapshot, bound.getSnapshot);
  return useMemo(
    () => ({
      data: snap.data,
      status: snap.status,
      isLoading: snap.isLoading,
      isFetching: snap.isFetching,
      isStale: snap.isStale,
      isSuccess: snap.isSuccess,
      isError: snap.isError,
      error: snap.error,
      updatedAt: snap.updatedAt,
      refetch: bound.refetch,
    }),
    [snap, bound],
  );
}

/**
 * A server function call: `{mutate, mutateAsync, reset, status, isPending, isSuccess, isError,
 * data, error, variables}`. `options`: `{optimistic, onSuccess, onError, onSettled}`; `optimistic`
 * is a list of merge entries or `(args) => entries`, rolled back exactly if the call fails.
 */
export function useMutation(fn, options = undefined) {
  const client = useMizanClient();
  const observer = useMemo(() => client.mutation(fn), [client, fn]);
  observer.setOptions(options); // the latest callbacks; idempotent
  const state = useSyncExternalStore(observer.subscribe, observer.getSnapshot, observer.getSnapshot);
  return useMemo(
    () => ({ ...state, mutate: observer.mutate, mutateAsync: observer.mutateAsync, reset: observer.reset }),
    [state, observer],
  );
}
