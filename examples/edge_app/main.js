// The wire app in an edge-style runtime: the same functions and the same fetch handler as
// examples/node_app, as a module whose default export is `{fetch}` — the shape `deno serve` and
// Cloudflare Workers take. Run with Deno (installed from npm, `deno` in package.json):
//
//   cd examples/edge_app && npx deno serve --port 8004 --allow-read --allow-env main.js
//   python3 tests/wire/run_wire.py http://127.0.0.1:8004
//
// The origin cache is the kernel's in-memory store (per isolate); a Worker would pass a store over
// its own KV or Redis client. `MIZAN_CACHE=none` serves without a cache.
import { mizanHandler } from '@mizan/kernel-wasm/server';
import { functions, stripeWebhook, wireOptions } from '../node_app/functions.js';

const env = globalThis.Deno?.env.get('MIZAN_CACHE') ?? globalThis.process?.env?.MIZAN_CACHE ?? 'memory';
const mizan = mizanHandler(functions, wireOptions(env === 'none' ? null : 'memory'));

const send = (r) => new Response(r.body, { status: r.status, headers: r.headers });

export default {
  async fetch(request) {
    const path = new URL(request.url).pathname;
    if (path === '/webhooks/stripe/') {
      if (request.method !== 'POST') return send(mizan.app.errorResponse('METHOD_NOT_ALLOWED', 'Method not allowed'));
      const payload = new Uint8Array(await request.arrayBuffer());
      return send(await stripeWebhook(mizan.app, request.headers.get('stripe-signature'), payload));
    }
    return mizan(request);
  },
};
