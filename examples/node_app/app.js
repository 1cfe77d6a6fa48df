// The wire app on node:http (tests/wire/README.md): tests/wire/app.kdl's functions
// (functions.js) served through @mizan/kernel-wasm/server.
//
//   node examples/node_app/app.js --port 8003 --cache memory     # or redis://127.0.0.1:6379/0, none
//   python3 tests/wire/run_wire.py http://127.0.0.1:8003
//
// Options: --host (127.0.0.1), --port (8003), --cache memory|none|redis://… (memory),
// --redis-prefix (wire:). The secrets are the wire suite's fixed test secrets; never reuse them.
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { createNodeServer, mizanHandler, requestHeader, RedisOriginStore } from '@mizan/kernel-wasm/server';
import { functions, sessionIdentity, webhookSignatureOk } from './functions.js';

/** The wire suite's secrets (tests/wire/probes.json "config"): test-only values. */
export const CACHE_SECRET = 'wire-cache-secret-for-tests-only-0001';
export const MWT_SECRET = 'wire-mwt-secret-for-tests-only-00002';
export const JWT_SECRET = 'wire-jwt-secret-for-tests-only-00003';
export const WEBHOOK_SECRET = 'wire-webhook-secret-for-tests-only-4';

async function originCache(cache, prefix) {
  if (cache === 'none' || cache === '') return null;
  if (cache === 'memory') return 'memory';
  const client = createClient({ url: cache });
  client.on('error', (e) => console.error(`node_app: redis: ${e.message}`));
  await client.connect();
  return new RedisOriginStore(client, { prefix }).load();
}

/** The wire app's fetch handler: every function, the predicate, the session stand-in, revocation, the test secrets. */
export async function createHandler({ cache = 'memory', redisPrefix = 'wire:' } = {}) {
  const store = await originCache(cache, redisPrefix);
  return mizanHandler(functions, {
    cache: store,
    cacheSecret: store === null ? undefined : CACHE_SECRET,
    mwtSecret: MWT_SECRET,
    jwtSecret: JWT_SECRET,
    bodyLimit: 65536,
    maxPublicEntries: 64,
    identity: (request) => sessionIdentity(requestHeader(request, 'x-wire-user')),
    revoked: (sid) => sid.startsWith('revoked'),
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

/**
 * The webhook's own route (a view, outside the protocol): only the payment provider may call it
 * (a valid `Stripe-Signature` over the body, else 401 in the engine's envelope); then run it and
 * purge what its `affects` covers: the kernel resolves the entries, the header and the plan.
 */
async function stripeWebhook(app, req, res) {
  const send = (r) => res.writeHead(r.status, r.headers.flat()).end(r.body);
  if (req.method !== 'POST') return send(app.errorResponse('METHOD_NOT_ALLOWED', 'Method not allowed'));
  const payload = await readBody(req);
  if (!webhookSignatureOk(requestHeader(req, 'stripe-signature'), payload, WEBHOOK_SECRET)) {
    return send(app.errorResponse('UNAUTHORIZED', 'Invalid signature'));
  }
  const result = await functions.functions.get('stripe_webhook').fn({ identity: null, user: null, request: req, app }, {});
  const inv = app.registry.resolveInvalidation('stripe_webhook', {});
  await app.purge(inv.invalidate).catch((e) => console.error('node_app: webhook purge failed', e));
  const headers = { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' };
  if (inv.header) headers['X-Mizan-Invalidate'] = inv.header;
  res.writeHead(200, headers).end(JSON.stringify(result));
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8003' },
      cache: { type: 'string', default: process.env.MIZAN_CACHE ?? 'memory' },
      'redis-prefix': { type: 'string', default: process.env.MIZAN_REDIS_PREFIX ?? 'wire:' },
    },
  });
  const handler = await createHandler({ cache: values.cache, redisPrefix: values['redis-prefix'] });
  const server = createNodeServer(handler, {
    fallback: (req, res) => {
      if (req.url === '/webhooks/stripe/') return stripeWebhook(handler.app, req, res);
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    },
  });
  server.listen(Number(values.port), values.host, () => {
    console.error(`node_app: serving on http://${values.host}:${values.port} (cache: ${values.cache})`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop).on('SIGINT', stop);
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
