// Tauri IPC (KERNEL.md §7): `invoke('plugin:mizan|mizan_invoke', {envelope})` with
// `{op: "fetch", context, params}` or `{op: "call", fn, args}`. IPC has no headers: the call
// body carries the invalidations. Errors arrive as a bare `{code, message, details?}` and are
// re-wrapped into MizanRequestError, the type the HTTP transport throws.
import { MizanRequestError } from './errors.js';

export const TAURI_COMMAND = 'plugin:mizan|mizan_invoke';

// A variable specifier: bundlers leave it alone, so apps without Tauri build without
// @tauri-apps/api installed (it is an optional peer dependency).
const TAURI_CORE = '@tauri-apps/api/core';

async function defaultInvoke() {
  try {
    const mod = await import(/* @vite-ignore */ /* webpackIgnore: true */ TAURI_CORE);
    if (typeof mod.invoke === 'function') return mod.invoke;
  } catch {
    // Not resolvable at run time (a bundled webview): fall back to what Tauri injects.
  }
  const internals = globalThis.__TAURI_INTERNALS__;
  if (internals && typeof internals.invoke === 'function') return (cmd, args) => internals.invoke(cmd, args);
  throw new MizanRequestError({
    code: 'IPC_UNAVAILABLE',
    message: "Tauri's invoke is not available: pass tauriTransport({ invoke }) from '@tauri-apps/api/core'",
  });
}

function parseMaybeJson(e) {
  if (typeof e !== 'string') return e;
  try {
    return JSON.parse(e);
  } catch {
    return e;
  }
}

/** A bare IPC error payload (object, or its JSON text) as a MizanRequestError. */
export function tauriError(e) {
  if (e instanceof MizanRequestError) return e;
  const p = parseMaybeJson(e);
  if (p && typeof p === 'object' && typeof p.code === 'string' && typeof p.message === 'string') {
    return new MizanRequestError({ code: p.code, message: p.message, details: p.details ?? null });
  }
  // Not a Mizan payload: the IPC itself failed (no such command, serialization). A 500-class
  // code, so the store retries it like a failed request.
  const message = p instanceof Error ? p.message : typeof p === 'string' ? p : JSON.stringify(p);
  return new MizanRequestError({ code: 'IPC_ERROR', message: message || 'IPC call failed' }, { cause: e });
}

/** `invoke`: Tauri's `invoke` (default: `@tauri-apps/api/core`, imported on first use). */
export function tauriTransport({ invoke, command = TAURI_COMMAND } = {}) {
  let invokeFn = typeof invoke === 'function' ? invoke : null;
  let loading = null;
  async function run(envelope) {
    if (!invokeFn) {
      loading ??= defaultInvoke();
      try {
        invokeFn = await loading;
      } catch (e) {
        loading = null;
        throw e;
      }
    }
    try {
      return await invokeFn(command, { envelope });
    } catch (e) {
      throw tauriError(e);
    }
  }
  return {
    kind: 'tauri',
    async fetch({ context, params }) {
      return run({ op: 'fetch', context, params });
    },
    async call({ fn, args }) {
      return { body: await run({ op: 'call', fn, args }), header: null };
    },
    /** No session over IPC: no cookie, no CSRF token. */
    async session() {
      return { csrfToken: null };
    },
  };
}
