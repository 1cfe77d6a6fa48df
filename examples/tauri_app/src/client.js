// The one module that knows the transport: the components only use the hooks of
// @mizan/kernel-wasm/react. Over HTTP the same components run with
// `httpTransport({ baseUrl: '/api/mizan' })` instead of `tauriTransport({ invoke })`.
import { invoke } from '@tauri-apps/api/core';
import { createClient, tauriTransport } from '@mizan/kernel-wasm/client';

// Requests the client made, per instance key (`todos?list_id=1`, `lists`…) and per function
// called: what the request panel shows and what the webview test reads (window.__mizan).
const requests = {};
const listeners = new Set();
let version = 0;

function count(name) {
  requests[name] = (requests[name] ?? 0) + 1;
  version++;
  for (const listener of listeners) listener();
}

/** A transport that counts, then delegates. */
function counted(transport) {
  return {
    kind: transport.kind,
    fetch(request) {
      count(`fetch ${request.key}`);
      return transport.fetch(request);
    },
    call(request) {
      count(`call ${request.fn}`);
      return transport.call(request);
    },
    session: () => transport.session(),
  };
}

export const requestLog = {
  subscribe(listener) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  },
  version: () => version,
  counts: () => ({ ...requests }),
};

export const client = createClient({ transport: counted(tauriTransport({ invoke })), staleTime: 60_000 });
client.start();

/** Sign in with the app's own command, then drop what the client holds for the previous identity. */
export async function signIn(userId) {
  await invoke('sign_in', { userId });
  client.reset();
}

export async function signOut() {
  await invoke('sign_out');
  client.reset();
}

window.__mizan = { client, requests: requestLog.counts };
