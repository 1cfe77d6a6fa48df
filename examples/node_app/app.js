// The wire app on node:http (tests/wire/README.md): tests/wire/app.kdl's functions
// (functions.js) served through @mizan/kernel-wasm/server.
//
//   node examples/node_app/app.js --port 8003 --cache memory     # or redis://127.0.0.1:6379/0, none
//   python3 tests/wire/run_wire.py http://127.0.0.1:8003
//
// Options: --host (127.0.0.1), --port (8003), --cache memory|none|redis://… (memory),
// --redis-prefix (wire:), --plain (also serve the `/plain/…` handlers the benchmark compares
// against). The secrets are the wire suite's fixed test secrets (functions.js WIRE).
import { parseArgs } from 'node:util';
import { createClient } from 'redis';
import { createNodeServer, mizanHandler, requestHeader, RedisOriginStore } from '@mizan/kernel-wasm/server';
import { functions, stripeWebhook, wireOptions } from './functions.js';
import { plainRoute } from './plain.js';

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
  return mizanHandler(functions, wireOptions(await originCache(cache, redisPrefix)));
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

async function webhookRoute(app, req, res) {
  const r = req.method === 'POST'
    ? await stripeWebhook(app, requestHeader(req, 'stripe-signature'), await readBody(req))
    : app.errorResponse('METHOD_NOT_ALLOWED', 'Method not allowed');
  res.writeHead(r.status, r.headers.flat()).end(r.body);
}

export async function main(argv = process.argv.slice(2)) {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8003' },
      cache: { type: 'string', default: process.env.MIZAN_CACHE ?? 'memory' },
      'redis-prefix': { type: 'string', default: process.env.MIZAN_REDIS_PREFIX ?? 'wire:' },
      plain: { type: 'boolean', default: false },
    },
  });
  const handler = await createHandler({ cache: values.cache, redisPrefix: values['redis-prefix'] });
  const server = createNodeServer(handler, {
    fallback: (req, res) => {
      if (req.url === '/webhooks/stripe/') return webhookRoute(handler.app, req, res);
      if (values.plain && plainRoute(req, res)) return undefined;
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
