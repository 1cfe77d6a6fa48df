// The todo example end to end (examples/todo/README.md): the client generated from the backend's
// IR is fresh (from the FastAPI and from the Rust backend), the page type-checks, and two users in
// headless Chromium on each backend (FastAPI, Axum) with each origin cache (in-memory, Redis):
// an add refreshes exactly the affected list, each user sees their own data only, a shared change
// reaches the other user on refetch, and nothing of one user's own list is in the other's cache.
// The frontend is built once, into a temporary directory, and served by every backend.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildAxum, buildFrontend, chromiumPath, frontendDir, launchChromium, pythonEnv, startBackend, startRedis } from './processes.mjs';
import { TITLES, fetched, runScenario, strings } from './scenario.mjs';

const noChromium = !existsSync(chromiumPath) && `no Chromium at ${chromiumPath}`;
let browser;
let dist;
let redis;

before(async () => {
  dist = await buildFrontend(join(await mkdtemp(join(tmpdir(), 'mizan-todo-')), 'dist'));
  buildAxum();
  redis = await startRedis();
  if (!noChromium) browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await redis?.stop();
  if (dist) await rm(join(dist, '..'), { recursive: true, force: true });
});

const npx = (args, env = process.env) => spawnSync('npx', ['--no-install', ...args], { cwd: frontendDir, encoding: 'utf8', env });

test('the checked-in client is what mizan-generate writes from the FastAPI and from the Rust backend', () => {
  for (const config of ['mizan.toml', 'mizan.rust.toml']) {
    const r = npx(['mizan-generate', '--config', config, '--check'], pythonEnv);
    assert.equal(r.status, 0, `${config}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /up to date/);
  }
});

test('the React and Vue pages type-check against the generated client (tsc --strict)', () => {
  const r = npx(['tsc', '--noEmit']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test("README.md's JavaScript quick start is true against the example", async () => {
  const { readFileSync } = await import('node:fs');
  const { deriveCacheKey, parseInvalidateHeader, Registry } = await import('@mizan/kernel-wasm');
  const secret = 'test-pin-secret-that-is-32bytes!';
  // The same key as `mizan key --context todos --user alice` and the Python and Rust hosts.
  assert.equal(deriveCacheKey(secret, 'todos', {}, { user: 'alice' }), 'ctx:todos:96f7ae6189ea5c6b09e00e3f3dfe99ccf942c66434430e6c60c404e6bb5fd348');
  assert.deepEqual(parseInvalidateHeader('todos, shared'), ['todos', 'shared']);
  const registry = Registry.fromKdl(readFileSync(join(frontendDir, '..', 'todo.kdl'), 'utf8'));
  assert.deepEqual(registry.resolveInvalidation('add_todo', { title: 'milk' }), { invalidate: ['todos'], header: 'todos' });
});

/** The call a mutation step made, and exactly the context it refetched. */
function assertRefreshedOnly(step, fn, context, slot) {
  const calls = step.requests.filter((r) => r.fn);
  assert.deepEqual(
    calls.map((c) => [c.fn, c.status, c.invalidate, c.merge]),
    [[fn, 200, [context], [`${context}.${slot}`]]],
    step.what,
  );
  assert.deepEqual(fetched(step.requests), [context], `${step.what}: refetched ${JSON.stringify(step.requests)}`);
  assert.equal(step.requests.length, 2, `${step.what}: ${JSON.stringify(step.requests)}`);
}

function assertReport(report, { cached }) {
  assert.deepEqual(report.errors, { alice: [], bob: [] });
  const step = (who, what) => report.steps.find((s) => s.who === who && s.what.startsWith(what));
  assert.deepEqual(fetched(step('alice', 'signs in').requests).sort(), ['global', 'shared', 'todos']);

  const add = step('alice', `adds "${TITLES.aliceOwn[0]}"`);
  assert.equal(add.optimistic, 'shown before the server answered');
  assertRefreshedOnly(add, 'add_todo', 'todos', 'my_todos');
  assertRefreshedOnly(step('alice', `adds "${TITLES.shared[0]}"`), 'add_shared_todo', 'shared', 'shared_todos');
  assertRefreshedOnly(step('alice', 'ticks'), 'toggle_todo', 'todos', 'my_todos');
  assertRefreshedOnly(step('bob', `adds "${TITLES.bobOwn[0]}"`), 'add_todo', 'todos', 'my_todos');
  assertRefreshedOnly(step('alice', `adds "${TITLES.shared[1]}"`), 'add_shared_todo', 'shared', 'shared_todos');

  // The origin cache keys `todos` by user and `shared` by nobody: bob's first own list is his
  // (a miss), his first shared list is the entry alice's page stored (a hit).
  const bobIn = step('bob', 'opens').requests;
  const first = (ctx) => bobIn.filter((r) => r.path.includes(`/ctx/${ctx}/`)).at(-1);
  if (cached) {
    assert.equal(first('todos').cache, 'MISS');
    assert.equal(first('shared').cache, 'HIT');
  }

  const refetch = step('bob', 'refetches the shared list');
  assert.deepEqual(refetch.requestsWhileAliceAdded, [], 'nothing reaches bob without a refetch');
  assert.deepEqual(refetch.sharedBefore, [TITLES.shared[0]]);
  assert.deepEqual(fetched(refetch.requests), ['shared']);

  const titles = (todos) => todos.map((t) => [t.title, t.author, t.done, t.pending]);
  assert.deepEqual(titles(report.saw.alice.mine), [[TITLES.aliceOwn[0], 'alice', true, false]]);
  assert.deepEqual(titles(report.saw.bob.mine), [[TITLES.bobOwn[0], 'bob', false, false]]);
  for (const name of ['alice', 'bob']) {
    assert.equal(report.saw[name].me, name);
    assert.deepEqual(titles(report.saw[name].shared), TITLES.shared.map((t) => [t, 'alice', false, false]));
  }

  // Nothing of one user's own list, anywhere in the other's client cache.
  const inCache = (name) => strings(report.caches[name]);
  for (const title of TITLES.aliceOwn) assert.ok(!inCache('bob').includes(title), `bob's cache has alice's "${title}"`);
  for (const title of TITLES.bobOwn) assert.ok(!inCache('alice').includes(title), `alice's cache has bob's "${title}"`);
  const own = (name) => report.caches[name].instances.find((i) => i.context === 'todos').data.my_todos;
  assert.deepEqual([...new Set(own('alice').map((t) => t.author))], ['alice']);
  assert.deepEqual([...new Set(own('bob').map((t) => t.author))], ['bob']);
  assert.deepEqual(report.caches.bob.instances.find((i) => i.context === 'global').data, { me: { name: 'bob' } });
}

const RUNS = [
  ['fastapi', 'memory', '/'],
  ['fastapi', 'redis', '/'],
  ['axum', 'memory', '/'],
  ['axum', 'redis', '/'],
  ['axum', 'memory', '/vue.html'],
];

for (const [kind, cache, page] of RUNS) {
  const label = `${kind}, ${cache} origin cache, ${page === '/' ? 'React' : 'Vue'}`;
  test(`two users in Chromium (${label})`, { skip: noChromium, timeout: 120_000 }, async (t) => {
    if (cache === 'redis' && !redis) return t.skip('no redis-server (apt-get install redis-server)');
    const backend = await startBackend(kind, { cache: cache === 'redis' ? redis.url : cache, frontend: dist });
    try {
      const report = await runScenario(browser, backend.url, { page });
      assertReport(report, { cached: true });
    } finally {
      await backend.stop();
    }
  });
}
