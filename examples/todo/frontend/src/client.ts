// The one client of the page, over the transport this build was made for: HTTP to the backend on
// the same origin by default, the Tauri plugin's IPC when built with `vite build --mode tauri`
// (.env.tauri sets VITE_MIZAN_TRANSPORT). Nothing else in the app depends on the transport.
import { createClient, httpTransport, tauriTransport } from '@mizan/kernel-wasm/client';
import type { MizanClient } from '@mizan/kernel-wasm/client';

export const transportKind: 'http' | 'tauri' = import.meta.env.VITE_MIZAN_TRANSPORT === 'tauri' ? 'tauri' : 'http';

declare global {
  interface Window {
    /** The page's client, for a look at its cache from the console: `mizan.dehydrate()`. */
    mizan?: MizanClient;
  }
}

export function makeClient(): MizanClient {
  const transport = transportKind === 'tauri' ? tauriTransport() : httpTransport({ baseUrl: '/api/mizan' });
  const client = createClient({ transport });
  // The session (a CSRF token where the backend has one) is fetched in the background: the page
  // renders at once, and calls wait for it.
  client.start().catch((e: unknown) => console.warn('mizan: no session yet', e));
  window.mizan = client;
  return client;
}
