// @mizan/kernel-wasm/vue: composables over the client (src/client/), returning refs. No state of
// its own: a shallowRef mirrors the client's snapshot (which keeps identity while unchanged).
import {
  computed,
  getCurrentInstance,
  getCurrentScope,
  inject,
  onScopeDispose,
  provide,
  shallowReadonly,
  shallowRef,
  ssrContextKey,
  toValue,
  watch,
} from 'vue';
import { IDLE_SNAPSHOT } from '../client/index.js';

export const MIZAN_KEY = Symbol.for('@mizan/kernel-wasm/vue');

/** In a component's setup: make `client` available to descendants. */
export function provideMizan(client) {
  if (!client) throw new TypeError('provideMizan needs a client');
  provide(MIZAN_KEY, client);
  return client;
}

/** `app.use(mizanPlugin(client))`: the client for the whole app. */
export function mizanPlugin(client) {
  return {
    install(app) {
      app.provide(MIZAN_KEY, client);
    },
  };
}

export function useMizanClient() {
  const client = getCurrentInstance() ? inject(MIZAN_KEY, null) : null;
  if (!client) throw new Error('useMizanClient: no client provided (provideMizan(client) or app.use(mizanPlugin(client)))');
  return client;
}

// Rendering on the server (renderToString): read the snapshot once, subscribe to nothing (no
// unmount would ever unsubscribe). Outside SSR (a browser, or Node without a renderer) subscribe.
const inSsr = () => (getCurrentInstance() ? inject(ssrContextKey, null) !== null : false);

/**
 * One context instance. `name` and `params` may be refs or getters (the subscription follows
 * them). Returns refs: `data, status, isLoading, isFetching, isStale, isSuccess, isError, error,
 * updatedAt`, plus `snapshot` and `refetch()`. `options.enabled` (boolean, ref or getter).
 */
export function useMizanContext(name, params = {}, options = {}) {
  const client = options.client ?? useMizanClient();
  const ssr = inSsr();
  const snap = shallowRef(IDLE_SNAPSHOT);
  watch(
    () => [toValue(name), toValue(params), toValue(options.enabled ?? true)],
    ([n, p, enabled], _old, onCleanup) => {
      if (!enabled) {
        snap.value = IDLE_SNAPSHOT;
        return;
      }
      snap.value = client.getSnapshot(n, p);
      if (ssr) return;
      onCleanup(client.subscribe(n, p, (s) => (snap.value = s)));
    },
    { immediate: true, deep: true },
  );
  const field = (k) => computed(() => snap.value[k]);
  return {
    snapshot: shallowReadonly(snap),
    data: field('data'),
    status: field('status'),
    isLoading: field('isLoading'),
    isFetching: field('isFetching'),
    isStale: field('isStale'),
    isSuccess: field('isSuccess'),
    isError: field('isError'),
    error: field('error'),
    updatedAt: field('updatedAt'),
    refetch: () => client.refetch(toValue(name), toValue(params)),
  };
}

/**
 * A server function call. Returns `{mutate, mutateAsync, reset}` and refs `status, isPending,
 * isSuccess, isError, data, error, variables`. `options`: `{optimistic, onSuccess, onError,
 * onSettled}`.
 */
export function useMutation(fn, options = {}) {
  const client = options.client ?? useMizanClient();
  const observer = client.mutation(fn, options);
  const state = shallowRef(observer.getSnapshot());
  const stop = inSsr() ? () => {} : observer.subscribe((s) => (state.value = s));
  if (getCurrentScope()) onScopeDispose(stop); // unsubscribe with the component
  const field = (k) => computed(() => state.value[k]);
  return {
    mutate: observer.mutate,
    mutateAsync: observer.mutateAsync,
    reset: observer.reset,
    stop,
    status: field('status'),
    isPending: field('isPending'),
    isSuccess: field('isSuccess'),
    isError: field('isError'),
    data: field('data'),
    error: field('error'),
    variables: field('variables'),
  };
}
