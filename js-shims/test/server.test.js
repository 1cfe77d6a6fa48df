// @mizan/kernel-wasm/server: defineFunctions → the kernel's IR (the parity fixture and the wire
// app's registry byte for byte), and mizanHandler driven with plain Fetch `Request` objects —
// the same flow the wire probes check over HTTP on node_app (python-shims/tests/test_server_wire.py).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import {
  createNodeServer,
  defineFunctions,
  MemoryOriginStore,
  mizanHandler,
  NotFound,
  ProtocolError,
  RedisOriginStore,
  requestHeader,
  ValidationFailed,
} from '../src/server/index.js';
import { consumerDir, pkgDir } from './helpers.js';
import { functions as parity } from './server/parity-functions.js';

const repo = join(pkgDir, '..');
const MWT = 'server-test-mwt-secret-0000000000001';

test('the parity fixture declared with defineFunctions is tests/fixtures/ir/parity.kdl byte for byte', async () => {
  assert.equal(parity.toKdl(), await readFile(join(repo, 'tests/fixtures/ir/parity.kdl'), 'utf8'));
});

test("the wire app's functions (examples/node_app) are tests/wire/app.kdl byte for byte", async (t) => {
  if (!existsSync(join(repo, 'examples/node_app/node_modules/@mizan/kernel-wasm'))) {
    t.skip('examples/node_app has no node_modules (scripts/setup.sh)');
    return;
  }
  const { functions } = await import('../../examples/node_app/functions.js');
  assert.equal(functions.toKdl(), await readFile(join(repo, 'tests/wire/app.kdl'), 'utf8'));
});

test('registration mistakes fail at once, naming them', () => {
  const f = defineFunctions();
  assert.throws(() => f.client({ name: 'x', context: 'c', cach: 5 }, () => 1), /unknown option cach/);
  assert.throws(() => f.client({}, () => 1), /anonymous function needs options.name/);
  assert.throws(() => f.client({ name: 'x', auth: 'admin' }, () => 1), /auth must be/);
  f.client({ name: 'x', context: 'c' }, () => 1);
  assert.throws(() => f.client({ name: 'x' }, () => 1), /registered twice/);
  assert.throws(() => f.client({ name: 'y', affects: [() => 1] }, () => 1), /not registered here/);
  // The kernel's graph check: a context that nobody reads cannot be affected.
  const g = defineFunctions();
  g.client({ name: 'bump', affects: ['nowhere'] }, () => 1);
  assert.throws(() => g.toKdl(), (e) => e.code === 'invalid-registry' || /nowhere/.test(JSON.stringify(e.details ?? e.message)));
  assert.throws(() => new ProtocolError('TEAPOT', 'no'), /unknown protocol code/);
});

/** A small shop: reads, a cached context, a mutation with affects/merge, every auth kind, a predicate. */
function shop() {
  const f = defineFunctions();
  const items = new Map([[1, { id: 1, name: 'apple' }]]);
  let runs = 0;
  f.type('Item', { id: 'int', name: 'str' });
  f.client({ name: 'item_list', context: 'items', cache: 60, params: { page: 'optional<int>' }, returns: 'list<Item>' }, () => {
    runs += 1;
    return [...items.values()];
  });
  f.client({ name: 'whoami', context: 'me', auth: true, returns: 'str' }, (ctx) => ctx.user);
  f.client({ name: 'echo_args', context: 'echo', cache: false, params: { n: 'int', x: 'float' }, returns: 'any' }, (_ctx, args) => args);
  f.client({ name: 'rename', affects: 'items', merge: 'items', auth: 'staff', params: { id: 'int', name: 'str' }, returns: 'Item' },
    (_ctx, { id, name }) => {
      const item = items.get(id);
      if (!item) throw new NotFound('No such item');
      if (name === '') throw new ValidationFailed({ name: ['Must not be empty'] });
      item.name = name;
      return item;
    });
  f.client({ name: 'wipe', auth: 'superuser', returns: 'int' }, () => 0);
  f.client({ name: 'report', auth: function has_reports(identity) { return identity?.subject === '1'; }, returns: 'str' }, () => 'r');
  f.client({ name: 'boom', returns: 'any' }, () => {
    throw new Error('secret detail');
  });
  return { f, runs: () => runs };
}

const quiet = { warn() {}, error() {} };
const users = { 1: { subject: '1' }, 2: { subject: '2', staff: true }, 3: { subject: '3', staff: true, superuser: true } };

function handlerFor(f, options = {}) {
  return mizanHandler(f, {
    cache: 'memory',
    mwtSecret: MWT,
    logger: quiet,
    identity: (request) => {
      const who = requestHeader(request, 'x-user'); // a Fetch Request or node's IncomingMessage
      if (who === 'raise') throw new Error('session store down');
      return users[who] ?? null;
    },
    revoked: (sid) => sid.startsWith('revoked'),
    ...options,
  });
}

const at = (path, init = {}) => new Request(`http://app.test${path}`, init);
const call = (fn, args, user, extra = {}) =>
  at('/api/mizan/call/', {
    method: 'POST',
    body: typeof args === 'string' ? args : JSON.stringify({ fn, args }),
    headers: { 'content-type': 'application/json', ...(user ? { 'x-user': user } : {}), ...extra },
  });

test('the handler: session, reads with a cache (miss, hit), no-store on every answer', async () => {
  const { f, runs } = shop();
  const h = handlerFor(f);
  const session = await h(at('/api/mizan/session/'));
  assert.equal(session.status, 200);
  assert.deepEqual(await session.json(), { csrfToken: null });
  const miss = await h(at('/api/mizan/ctx/items/?page=1'));
  assert.equal(miss.status, 200);
  assert.equal(miss.headers.get('x-mizan-cache'), 'MISS');
  assert.equal(miss.headers.get('cache-control'), 'no-store');
  assert.deepEqual(await miss.json(), { item_list: [{ id: 1, name: 'apple' }] });
  const hit = await h(at('/api/mizan/ctx/items/?page=01'));
  assert.equal(hit.headers.get('x-mizan-cache'), 'HIT', 'coerced params: one key');
  assert.equal(runs(), 1);
  const head = await h(at('/api/mizan/session/', { method: 'HEAD' }));
  assert.equal(head.status, 200);
  assert.equal(await head.text(), '');
  assert.equal(Number(head.headers.get('content-length')), '{"csrfToken":null}'.length);
});

test('the handler: a mutation purges what it affects and says so in X-Mizan-Invalidate', async () => {
  const { f, runs } = shop();
  const h = handlerFor(f);
  await h(at('/api/mizan/ctx/items/'));
  const r = await h(call('rename', { id: 1, name: 'pear' }, '2'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-mizan-invalidate'), 'items');
  const body = await r.json();
  assert.deepEqual(body.result, { id: 1, name: 'pear' });
  assert.ok(Array.isArray(body.merge) && body.merge.length === 1, 'merge into items');
  const after = await h(at('/api/mizan/ctx/items/'));
  assert.equal(after.headers.get('x-mizan-cache'), 'MISS', 'the entry was purged');
  assert.deepEqual(await after.json(), { item_list: [{ id: 1, name: 'pear' }] });
  assert.equal(runs(), 2);
  // A failed mutation purges nothing and has no header.
  const failed = await h(call('rename', { id: 9, name: 'x' }, '2'));
  assert.equal(failed.status, 404);
  assert.equal(await failed.text(), '{"error":{"code":"NOT_FOUND","message":"No such item"}}');
  assert.equal(failed.headers.get('x-mizan-invalidate'), null);
  assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'HIT');
});

test('the handler: auth guards, predicates, tokens and revoked sessions', async () => {
  const { f } = shop();
  const h = handlerFor(f, { jwtSecret: 'server-test-jwt-secret-0000000000002' });
  assert.equal((await h(at('/api/mizan/ctx/me/'))).status, 401);
  assert.deepEqual(await (await h(at('/api/mizan/ctx/me/', { headers: { 'x-user': '1' } }))).json(), { whoami: '1' });
  assert.equal((await h(call('rename', { id: 1, name: 'x' }, '1'))).status, 403, 'staff only');
  assert.equal((await h(call('wipe', {}, '2'))).status, 403, 'superuser only');
  assert.equal((await h(call('wipe', {}, '3'))).status, 200);
  assert.equal((await h(call('report', {}, '1'))).status, 200, 'the predicate lets user 1 in');
  assert.equal((await h(call('report', {}, '2'))).status, 403, '…and no one else');
  // An MWT replaces the session; a bad one is refused, never ignored.
  const token = h.app.engine.mintMwt({ subject: '7' }, Date.now());
  assert.deepEqual(await (await h(at('/api/mizan/ctx/me/', { headers: { 'x-user': '1', 'x-mizan-token': token } }))).json(), { whoami: '7' });
  assert.equal((await h(at('/api/mizan/ctx/me/', { headers: { 'x-mizan-token': 'junk' } }))).status, 401);
  const pair = h.app.engine.mintJwtPair({ subject: '1' }, 'revoked-123', Date.now());
  const revoked = await h(at('/api/mizan/ctx/me/', { headers: { authorization: `Bearer ${pair.access}` } }));
  assert.equal(revoked.status, 401);
  assert.equal(await revoked.text(), '{"error":{"code":"UNAUTHORIZED","message":"Session revoked"}}');
  // The identity lookup failing is the engine's 500, not a crash.
  const down = await h(at('/api/mizan/ctx/items/', { headers: { 'x-user': 'raise' } }));
  assert.equal(down.status, 500);
  assert.equal(await down.text(), '{"error":{"code":"INTERNAL_ERROR","message":"Internal server error"}}');
});

test('the handler: validation, bad bodies, the body limit, exceptions that never leak', async () => {
  const { f } = shop();
  const h = handlerFor(f, { bodyLimit: 64 });
  const invalid = await h(call('echo_args', { n: 'x', x: 1 }));
  assert.equal(invalid.status, 422, 'a call is validated before the function runs');
  assert.deepEqual(Object.keys((await invalid.json()).error.details.fields), ['n']);
  const v = await h(at('/api/mizan/ctx/echo/?n=x&x=1'));
  assert.equal(v.status, 422);
  assert.ok((await v.json()).error.details.fields.n);
  assert.equal((await h(call('rename', { id: 1, name: '' }, '2'))).status, 422, 'a function raises a 422 itself');
  assert.equal((await h(call(null, 'not json'))).status, 400);
  const big = await h(call('rename', JSON.stringify({ fn: 'rename', args: { id: 1, name: 'x'.repeat(80) } })));
  assert.equal(big.status, 413);
  const boom = await h(call('boom', {}));
  assert.equal(boom.status, 500);
  assert.doesNotMatch(await boom.text(), /secret detail/);
  const method = await h(at('/api/mizan/call/', { method: 'PUT', body: '{}' }));
  assert.equal(method.status, 405);
  assert.equal(method.headers.get('allow'), 'POST');
});

test('the handler interprets the exchange: the session is read when the exchange asks, a token replaces it; the kernel writes the log lines', async () => {
  const { f } = shop();
  const asked = [];
  const logs = [];
  const h = handlerFor(f, {
    identity: (request) => {
      asked.push(new URL(request.url).pathname);
      if (requestHeader(request, 'x-user') === 'raise') throw new Error('session store down');
      return users[requestHeader(request, 'x-user')] ?? null;
    },
    logger: { warn: (m) => logs.push(['warn', m]), error: (m) => logs.push(['error', m]) },
  });
  const token = h.app.engine.mintMwt({ subject: '7' }, Date.now());
  assert.deepEqual(await (await h(at('/api/mizan/ctx/me/', { headers: { 'x-user': '1', 'x-mizan-token': token } }))).json(), { whoami: '7' });
  assert.deepEqual(await (await h(at('/api/mizan/ctx/me/', { headers: { 'x-user': '1' } }))).json(), { whoami: '1' });
  assert.deepEqual(asked, ['/api/mizan/ctx/me/'], 'not read for the request whose token replaces it');
  // Not read where no session is needed (as on every host): `/session/`, a route the engine refuses.
  const session = await h(at('/api/mizan/session/', { headers: { 'x-user': 'raise' } }));
  assert.deepEqual([session.status, await session.text()], [200, '{"csrfToken":null}']);
  assert.equal((await h(at('/api/mizan/nowhere/', { headers: { 'x-user': 'raise' } }))).status, 404);
  assert.equal(asked.length, 1);
  // A lookup that throws: the kernel's 500 and its line (`identity-failed`), as in Python and Rust.
  assert.equal((await h(at('/api/mizan/ctx/me/', { headers: { 'x-user': 'raise' } }))).status, 500);
  assert.ok(
    logs.some(([level, m]) => level === 'error' && m.startsWith('mizan: the identity callback failed: Error: session store down\n')),
    JSON.stringify(logs),
  );
  assert.equal((await h(call('boom', {}))).status, 500);
  const line = logs.find(([level, m]) => level === 'error' && m.includes('`boom` failed'));
  assert.ok(line, `the kernel's log line for the exception: ${JSON.stringify(logs)}`);
  assert.match(line[1], /^mizan: .*Error: secret detail\n\s+at /, 'with the stack, in the log only');
  assert.equal(h.app.pending, null);
});

test('the handler: integers past 2^53 reach the function and come back exactly', async () => {
  const { f } = shop();
  const h = handlerFor(f);
  const r = await h(at('/api/mizan/ctx/echo/?n=9007199254740993&x=18446744073709551616'));
  assert.equal(r.status, 200);
  assert.equal(await r.text(), '{"echo_args":{"n":9007199254740993,"x":18446744073709551616}}');
});

test('a purge that fails is kept: what it covers is served without the cache until a retry succeeds', async () => {
  const { f, runs } = shop();
  const memory = new MemoryOriginStore();
  let failing = false;
  const store = {
    lookup: (k) => memory.lookup(k),
    put: (p, t) => memory.put(p, t),
    purge: (plan) => (failing ? Promise.reject(new Error('store down')) : memory.purge(plan)),
  };
  const errors = [];
  const h = handlerFor(f, { cache: store, cacheSecret: 'server-test-cache-secret-00000000003', logger: { warn() {}, error: (m) => errors.push(m) } });
  await h(at('/api/mizan/ctx/items/'));
  assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'HIT');
  failing = true;
  assert.equal((await h(call('rename', { id: 1, name: 'kiwi' }, '2'))).status, 200, 'the call still answers');
  assert.match(errors.join('\n'), /purge failed/);
  const before = runs();
  const fenced = await h(at('/api/mizan/ctx/items/'));
  assert.deepEqual(await fenced.json(), { item_list: [{ id: 1, name: 'kiwi' }] }, 'never the stale entry');
  await h(at('/api/mizan/ctx/items/'));
  assert.equal(runs(), before + 2, 'served without the cache: no read, no put');
  failing = false;
  const retried = await h(at('/api/mizan/ctx/items/'));
  assert.equal(retried.headers.get('x-mizan-cache'), 'MISS', 'the retry purged it; the cache is used again');
  assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'HIT');
  assert.equal(runs(), before + 3);
});

test('a handler without a cache answers reads without X-Mizan-Cache; missing implementations fail at start', async () => {
  const { f } = shop();
  const h = handlerFor(f, { cache: null });
  const r = await h(at('/api/mizan/ctx/items/'));
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-mizan-cache'), null);
  assert.throws(() => mizanHandler(f, { cache: { lookup() {} } }), /cache must be/);
  assert.throws(() => mizanHandler(f, { cache: new MemoryOriginStore() }), /needs cacheSecret/);
  assert.throws(() => mizanHandler(f, { cache: 'memory', cacheSecrt: 'x' }), /unknown option cacheSecrt/);
});

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

test('createNodeServer: the same flow over node:http, and method tokens Node refuses reach the engine', async () => {
  const { f } = shop();
  const server = createNodeServer(handlerFor(f), { fallback: (_req, res) => res.writeHead(418).end('teapot') });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const r = await fetch(`${base}/api/mizan/ctx/items/`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-mizan-cache'), 'MISS');
    assert.equal((await fetch(`${base}/elsewhere`)).status, 418, 'outside the base path: the fallback');
    const net = await import('node:net');
    const raw = await new Promise((resolve, reject) => {
      const c = net.connect(server.address().port, '127.0.0.1', () => c.write('get /api/mizan/session/ HTTP/1.1\r\nHost: x\r\n\r\n'));
      let out = '';
      c.on('data', (d) => (out += d)).on('close', () => resolve(out)).on('error', reject);
    });
    assert.match(raw, /^HTTP\/1\.1 405 /);
    assert.match(raw, /\r\nAllow: GET, HEAD\r\n/i);
    assert.ok(raw.endsWith('{"error":{"code":"METHOD_NOT_ALLOWED","message":"Method not allowed"}}'));
  } finally {
    server.close();
  }
});

test('RedisOriginStore runs the kernel scripts (and reloads them after SCRIPT FLUSH)', async (t) => {
  const redisServer = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => existsSync(p));
  if (!redisServer) {
    t.skip('redis-server is not installed (scripts/setup.sh --redis)');
    return;
  }
  const port = await freePort();
  const proc = spawn(redisServer, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  try {
    const net = await import('node:net');
    for (let up = false, i = 0; !up && i < 100; i++) {
      up = await new Promise((resolve) => net.connect(port, '127.0.0.1').on('connect', function () { this.destroy(); resolve(true); }).on('error', () => resolve(false)));
      if (!up) await new Promise((r) => setTimeout(r, 50));
    }
    const store = await RedisOriginStore.connect(`redis://127.0.0.1:${port}/0`, { prefix: 't:' });
    const { f } = shop();
    const h = handlerFor(f, { cache: store, cacheSecret: 'server-test-cache-secret-00000000004' });
    assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'MISS');
    assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'HIT');
    await store.client.sendCommand(['SCRIPT', 'FLUSH']);
    const r = await h(call('rename', { id: 1, name: 'plum' }, '2'));
    assert.equal(r.status, 200);
    assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'MISS', 'purged through a reloaded script');
    assert.equal((await h(at('/api/mizan/ctx/items/'))).headers.get('x-mizan-cache'), 'HIT', 'stored through a reloaded script');
    await store.close();
  } finally {
    proc.kill();
  }
});

test('types: the server API passes tsc --strict, and refuses what the runtime would', async () => {
  const proj = await consumerDir('mizan-server-types-');
  try {
    await mkdir(join(proj.dir, 'src'));
    await writeFile(
      join(proj.dir, 'src', 'server.ts'),
      `import { defineFunctions, mizanHandler, createNodeServer, MemoryOriginStore, NotFound, ValidationFailed,
  type FunctionContext, type MizanHandler } from '@mizan/kernel-wasm/server';

interface Item { id: number; name: string }
const functions = defineFunctions();
functions.type('Item', { id: 'int', name: 'str' });
const items = new Map<number, Item>();

export const detail = functions.client({ name: 'item_detail', context: 'item', params: { id: 'int' }, returns: 'Item' },
  async (_ctx, { id }: { id: number }): Promise<Item> => {
    const item = items.get(id);
    if (!item) throw new NotFound('No such item');
    return item;
  });
functions.client({ name: 'rename', affects: [detail, 'items'], merge: 'items', auth: 'staff', params: { id: 'int', name: 'str' } },
  (ctx: FunctionContext<Request>, { name }: { id: number; name: string }) => {
    if (!name) throw new ValidationFailed({ name: ['Must not be empty'] });
    return { user: ctx.user, name };
  });
functions.client({ name: 'report', auth: function has_reports(identity) { return identity?.staff === true; } }, () => 'r');

export const handler: MizanHandler = mizanHandler(functions, {
  cache: new MemoryOriginStore({ maxEntries: 100 }),
  cacheSecret: 'x'.repeat(32),
  mwtSecret: 'y'.repeat(32),
  basePath: '/api/mizan',
  bodyLimit: 65536,
  identity: (request) => (request.headers.get('x-user') ? { subject: request.headers.get('x-user')! } : null),
  revoked: async (sid) => sid === 'gone',
});
export const res: Promise<Response> = handler(new Request('http://x/api/mizan/session/'));
export const purged: Promise<string[]> = handler.app.purge(['items', { context: 'item', params: { id: 1 } }]);
export const server = createNodeServer(handler).listen(0, '127.0.0.1');

// @ts-expect-error a typo is not an option
functions.client({ name: 'x', contxt: 'c' }, () => 1);
// @ts-expect-error auth is one of the known words, a predicate name or a function
functions.client({ name: 'y', auth: 'admin' }, () => 1);
// @ts-expect-error cache is a store, 'memory' or none
mizanHandler(functions, { cache: 'redis' });
// @ts-expect-error not a wire code
new NotFound(404);
`,
    );
    const compilerOptions = { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], skipLibCheck: false };
    await writeFile(join(proj.dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['src/*.ts'] }));
    const r = spawnSync(join(pkgDir, 'node_modules', '.bin', 'tsc'), ['-p', proj.dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, `tsc:\n${r.stdout}${r.stderr}`);
  } finally {
    await proj.remove();
  }
});

test('docs/hosts/javascript.md: the server quick start runs as written', async () => {
  const doc = await readFile(join(repo, 'docs/hosts/javascript.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### Quick start (server)'));
  const code = /```js\n([\s\S]*?)```/.exec(section)[1];
  const proj = await consumerDir('mizan-server-quickstart-');
  const port = await freePort();
  await writeFile(join(proj.dir, 'server.mjs'), code);
  const proc = spawn(process.execPath, ['server.mjs'], { cwd: proj.dir, env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  try {
    const base = `http://127.0.0.1:${port}/api/mizan`;
    let first;
    for (let i = 0; i < 100 && !first; i++) {
      first = await fetch(`${base}/ctx/todos/`, { headers: { 'X-User': '1' } }).catch(() => null);
      if (!first) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(first, `the server did not start: ${output}`);
    assert.equal(first.headers.get('x-mizan-cache'), 'MISS');
    assert.deepEqual(await first.json(), { todo_list: [{ id: 1, title: 'milk', done: false }] });
    assert.equal((await fetch(`${base}/ctx/todos/`, { headers: { 'X-User': '1' } })).headers.get('x-mizan-cache'), 'HIT');
    const added = await fetch(`${base}/call/`, { method: 'POST', headers: { 'X-User': '1' }, body: '{"fn":"add_todo","args":{"title":"eggs"}}' });
    assert.equal(added.headers.get('x-mizan-invalidate'), 'todos');
    const body = await added.json();
    assert.deepEqual(body.result, { id: 2, title: 'eggs (1)', done: false });
    assert.deepEqual(body.invalidate, ['todos']);
    const missing = await fetch(`${base}/ctx/todo/?id=9`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), '{"error":{"code":"NOT_FOUND","message":"No such todo"}}');
    assert.equal((await fetch(`${base}/ctx/todos/`)).status, 401, 'auth: true');
  } finally {
    proc.kill();
    await proj.remove();
  }
});

test('a framework that takes a fetch handler: Hono routes /api/mizan/* to the handler', async () => {
  const { Hono } = await import('hono');
  const { f } = shop();
  const handler = handlerFor(f);
  const app = new Hono();
  app.get('/health', (c) => c.text('ok'));
  app.all('/api/mizan/*', (c) => handler(c.req.raw));
  assert.equal(await (await app.request('/health')).text(), 'ok');
  const r = await app.request('/api/mizan/ctx/items/?page=1');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('x-mizan-cache'), 'MISS');
  const c = await app.request('/api/mizan/call/', { method: 'POST', headers: { 'x-user': '2' }, body: '{"fn":"rename","args":{"id":1,"name":"fig"}}' });
  assert.equal(c.headers.get('x-mizan-invalidate'), 'items');
  assert.equal((await app.request('/api/mizan/ctx/items/?page=1')).headers.get('x-mizan-cache'), 'MISS', 'purged');
});
