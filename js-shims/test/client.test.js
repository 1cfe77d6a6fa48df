// The client (src/client/) against a real in-process HTTP server (test/mizan-app.js): what the
// kernel store decides, performed through real requests, counted per path on the server.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, test } from 'node:test';
import v8 from 'node:v8';
import * as api from '../src/index.js';
import {
  channelTransport,
  createClient,
  httpTransport,
  MizanRequestError,
  serveChannel,
  tauriTransport,
} from '../src/client/index.js';
import { CSRF, startApp } from './mizan-app.js';
import { fakeTimers, sleep, waitFor } from './helpers.js';
import { memoryTrap } from './trap-scenarios.js';

let app;
const clients = [];

before(async () => {
  app = await startApp({ headerOnly: ['rename_user'] });
});
after(() => app.close());
beforeEach(() => app.reset());
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** A client on the app: fast retries, no focus listeners. */
function client(extra = {}) {
  const c = createClient({ transport: httpTransport({ baseUrl: app.base }), retryBaseMs: 4, retryMaxMs: 16, listen: false, ...extra });
  clients.push(c);
  return c;
}

/** Subscribe and record every snapshot delivered. */
function watch(c, context, params) {
  const seen = [];
  const stop = c.subscribe(context, params, (s) => seen.push(s));
  return { seen, stop, get: () => c.getSnapshot(context, params) };
}

const titles = (s) => (s.data?.todo_list ?? []).map((t) => t.title);

test('in-flight de-duplication: one request per instance, whatever the spelling of its params', async () => {
  const c = client();
  const release = app.hold('ctx/todos/');
  const a = watch(c, 'todos', { list_id: 1 });
  const b = watch(c, 'todos', { list_id: '1' }); // the same instance: 1 and "1" stringify alike
  const f1 = c.fetch('todos', { list_id: 1 });
  const f2 = c.fetch('todos', { list_id: 1 });
  assert.equal(a.get(), b.get(), 'one instance, one snapshot object');
  assert.equal(a.get().status, 'loading');
  assert.equal(a.get().isFetching, true);
  await waitFor(() => app.count('ctx/todos/?list_id=1') === 1);
  await sleep(20);
  release();
  const [d1, d2] = await Promise.all([f1, f2]);
  assert.equal(d1, d2);
  assert.deepEqual(d1, { todo_list: [{ id: 1, title: 'milk' }] });
  assert.equal(app.count('ctx/todos/?list_id=1'), 1);
  assert.equal(a.get().status, 'success');
  assert.equal(a.seen.at(-1), a.get());
  a.stop();
  b.stop();
});

/** The same consumer code on every transport (HTTP, Tauri, channel). */
async function mutationRefetchesExactlyTheAffectedInstance(c, count) {
  await c.start();
  const lists = [1, 2, 3].map((id) => watch(c, 'todos', { list_id: id }));
  const user = watch(c, 'user', { user_id: 5 });
  await waitFor(() => lists.every((l) => l.get().status === 'success') && user.get().status === 'success', 5000, 'first data');
  // An unobserved instance: marked stale by the mutation, refetched only when next used.
  assert.deepEqual(await c.fetch('stats', {}), { stats_summary: { todos: 3 } });
  const before = { l1: lists[0].get(), l3: lists[2].get(), user: user.get() };
  const result = await c.mutate('add_todo', { list_id: 2, title: 'jam' });
  assert.equal(result.title, 'jam');
  await waitFor(() => titles(lists[1].get()).includes('jam'), 5000, 'list 2 refetched');
  await sleep(30);
  assert.deepEqual(
    { l1: count('todos', 'list_id=1'), l2: count('todos', 'list_id=2'), l3: count('todos', 'list_id=3'), user: count('user', 'user_id=5'), stats: count('stats', '') },
    { l1: 1, l2: 2, l3: 1, user: 1, stats: 1 },
  );
  // Untouched instances kept their snapshot objects; their listeners were not called.
  assert.equal(lists[0].get(), before.l1);
  assert.equal(lists[2].get(), before.l3);
  assert.equal(user.get(), before.user);
  assert.equal(lists[0].seen.at(-1), before.l1);
  assert.deepEqual(titles(lists[1].get()), ['bread', 'jam']);
  // The unobserved stats instance was invalidated and refetches on next use.
  assert.deepEqual(await c.fetch('stats', {}), { stats_summary: { todos: 4 } });
  assert.equal(count('stats', ''), 2);
  for (const l of [...lists, user]) l.stop();
}

const httpCount = (ctx, q) => app.count(`ctx/${ctx}/${q ? `?${q}` : ''}`);

test('a mutation refetches exactly the affected instance (HTTP)', async () => {
  await mutationRefetchesExactlyTheAffectedInstance(client(), httpCount);
  assert.equal(app.count('session/'), 1);
  assert.equal(app.calls[0].csrf, CSRF, 'the session CSRF token went with the call');
});

test('start(): GET /session/ once; the token goes with every call', async () => {
  const c = client();
  const [s1, s2] = await Promise.all([c.start(), c.start()]);
  assert.deepEqual(s1, { csrfToken: CSRF });
  assert.equal(s1, s2);
  await c.start();
  assert.equal(app.count('session/'), 1);
  await c.mutate('rename_user', { user_id: 6, name: 'S' });
  assert.equal(app.calls.at(-1).csrf, CSRF);
});

test('header-only invalidation: an empty body list, the header still invalidates', async () => {
  const c = client();
  await c.start();
  const u5 = watch(c, 'user', { user_id: 5 });
  const u6 = watch(c, 'user', { user_id: 6 });
  await waitFor(() => u5.get().isSuccess && u6.get().isSuccess);
  const res = await fetch(`${app.base}/call/`, { method: 'POST', headers: { 'X-CSRFToken': CSRF }, body: JSON.stringify({ fn: 'rename_user', args: { user_id: 5, name: 'x' } }) });
  const direct = await res.json();
  assert.deepEqual(direct.invalidate, [], 'the body carries no invalidation');
  assert.equal(res.headers.get('x-mizan-invalidate'), 'user;user_id=5');
  await c.mutate('rename_user', { user_id: 5, name: 'Rana B.' });
  await waitFor(() => u5.get().data.user_profile.name === 'Rana B.');
  await sleep(20);
  assert.equal(httpCount('user', 'user_id=5'), 2);
  assert.equal(httpCount('user', 'user_id=6'), 1);
  u5.stop();
  u6.stop();
});

test('merges: applied from the response, before the invalidation, without a fetch of their own', async () => {
  const c = client();
  await c.start();
  const l1 = watch(c, 'todos', { list_id: 1 });
  const l2 = watch(c, 'todos', { list_id: 2 });
  const stats = watch(c, 'stats', {});
  await waitFor(() => l1.get().isSuccess && l2.get().isSuccess && stats.get().isSuccess);
  const l2Before = l2.get();
  // rename_todo: merge into todos (scoped to list 1), invalidate stats.
  await c.mutate('rename_todo', { list_id: 1, id: 1, title: 'oat milk' });
  assert.deepEqual(titles(l1.get()), ['oat milk'], 'merged as soon as the call resolved');
  await waitFor(() => httpCount('stats', '') === 2 && !stats.get().isFetching);
  await sleep(20);
  assert.equal(httpCount('todos', 'list_id=1'), 1, 'a merge never fetches');
  assert.equal(l2.get(), l2Before, 'another list is untouched');

  // retitle_todo: merge into todos AND invalidate todos: the merged data shows while the refetch runs.
  l1.seen.length = 0;
  await c.mutate('retitle_todo', { list_id: 1, id: 1, title: 'soy milk' });
  await waitFor(() => httpCount('todos', 'list_id=1') === 2 && !l1.get().isFetching);
  const firstMerged = l1.seen.findIndex((s) => titles(s)[0] === 'soy milk');
  assert.ok(firstMerged >= 0);
  assert.equal(l1.seen[firstMerged].isFetching, true, 'merge applied first, then the refetch started');
  assert.deepEqual(titles(l1.get()), ['soy milk']);
  for (const w of [l1, l2, stats]) w.stop();
});

test('optimistic update rolls back exactly on a 500; nothing invalidated; calls are not retried', async () => {
  const c = client();
  await c.start();
  const l1 = watch(c, 'todos', { list_id: 1 });
  const stats = watch(c, 'stats', {});
  await waitFor(() => l1.get().isSuccess && stats.get().isSuccess);
  const original = l1.get();
  app.fail('call/rename_todo', { status: 500 });
  const p = c.mutate('rename_todo', { list_id: 1, id: 1, title: 'optimistic' }, {
    optimistic: (args) => [{ context: 'todos', params: { list_id: args.list_id }, slot: 'todo_list', value: { id: args.id, title: args.title } }],
  });
  assert.deepEqual(titles(l1.get()), ['optimistic'], 'applied at once');
  const err = await p.then(() => null, (e) => e);
  assert.ok(err instanceof MizanRequestError, String(err));
  assert.equal(err.status, 500);
  assert.equal(err.code, 'INTERNAL_ERROR');
  assert.deepEqual(l1.get().data, original.data, 'rolled back exactly');
  await sleep(30);
  assert.equal(app.count('call/rename_todo'), 1);
  assert.equal(httpCount('stats', ''), 1, 'a failed call invalidates nothing');
  assert.equal(httpCount('todos', 'list_id=1'), 1);
  l1.stop();
  stats.stop();
});

test('retries: 503 and dropped connections are retried with backoff, then succeed', async () => {
  const c = client();
  app.fail('ctx/user/?user_id=5', { status: 503, times: 2 });
  app.fail('ctx/user/?user_id=5', { drop: true, times: 1 });
  const u = watch(c, 'user', { user_id: 5 });
  const data = await c.fetch('user', { user_id: 5 });
  assert.equal(data.user_profile.name, 'Rana');
  assert.equal(httpCount('user', 'user_id=5'), 4);
  assert.equal(u.get().status, 'success');
  assert.ok(!u.seen.some((s) => s.isError), 'no error shown while retries remain');
  u.stop();

  // Retries exhausted (3 by default): the error lands.
  app.fail('ctx/user/?user_id=6', { status: 503, times: 10 });
  const err = await c.fetch('user', { user_id: 6 }).then(() => null, (e) => e);
  assert.ok(err instanceof MizanRequestError);
  assert.equal(err.code, 'INTERNAL_ERROR');
  assert.equal(httpCount('user', 'user_id=6'), 4);
});

test('4xx is an answer: not retried', async () => {
  const c = client();
  app.fail('ctx/user/?user_id=6', { status: 404, times: 10, body: { error: { code: 'NOT_FOUND', message: 'No such user', details: { id: 6 } } } });
  const u = watch(c, 'user', { user_id: 6 });
  const err = await c.fetch('user', { user_id: 6 }).then(() => null, (e) => e);
  assert.equal(err.code, 'NOT_FOUND');
  assert.equal(err.message, 'No such user');
  assert.deepEqual(err.details, { id: 6 });
  await sleep(60);
  assert.equal(httpCount('user', 'user_id=6'), 1);
  assert.equal(u.get().status, 'error');
  assert.equal(u.get().error.code, 'NOT_FOUND');
  u.stop();
  // A refetch that succeeds clears the error.
  app.reset();
  assert.equal((await c.refetch('user', { user_id: 6 })).user_profile.name, 'Sami');
  assert.equal(c.getSnapshot('user', { user_id: 6 }).error, null);
  // A 404 on a call rejects with the same error type.
  await c.start();
  const e2 = await c.mutate('no_such_fn', {}).then(() => null, (e) => e);
  assert.ok(e2 instanceof MizanRequestError);
  assert.equal(e2.status, 404);
  assert.equal(e2.code, 'NOT_FOUND');
});

test('reset(): data dropped at once, observed instances refetch, pending calls fail, new session', async () => {
  const c = client();
  await c.start();
  const u = watch(c, 'user', { user_id: 5 });
  await waitFor(() => u.get().isSuccess);
  const release = app.hold('call/');
  const pending = c.mutate('rename_user', { user_id: 5, name: 'late' });
  c.reset();
  assert.equal(u.get().data, undefined, 'no data from before the identity change');
  assert.equal(u.get().status, 'loading');
  const err = await pending.then(() => null, (e) => e);
  assert.equal(err.code, 'RESET');
  release();
  await waitFor(() => u.get().isSuccess);
  assert.equal(httpCount('user', 'user_id=5'), 2);
  await waitFor(() => app.count('session/') === 2, 2000, 'a new session');
  u.stop();
});

test('structural sharing: unchanged slots keep their identity; unchanged snapshots too', async () => {
  const c = client();
  await c.start();
  const board = watch(c, 'board', { board_id: 1 });
  const user = watch(c, 'user', { user_id: 5 });
  await waitFor(() => board.get().isSuccess && user.get().isSuccess);
  const b0 = board.get();
  const u0 = user.get();
  assert.equal(c.getSnapshot('board', { board_id: 1 }), b0, 'stable while unchanged');
  const userCalls = user.seen.length;
  await c.mutate('move_card', { board_id: 1, title: 'build' });
  await waitFor(() => board.get().data.board_cards.length === 2 && !board.get().isFetching);
  const b1 = board.get();
  assert.notEqual(b1, b0);
  assert.notEqual(b1.data, b0.data);
  assert.notEqual(b1.data.board_cards, b0.data.board_cards);
  assert.equal(b1.data.board_info, b0.data.board_info, 'the unchanged slot is the same object');
  assert.equal(user.get(), u0);
  assert.equal(user.seen.length, userCalls, 'no notification for an instance that did not change');
  // A refetch with identical data keeps the bundle object itself.
  await c.refetch('board', { board_id: 1 });
  const b2 = board.get();
  assert.equal(b2.data, b1.data);
  assert.equal(b2.data.board_cards, b1.data.board_cards);
  board.stop();
  user.stop();
});

test('timers: one host timer, never above 2^31 - 1 ms; a long gcTime does not fire early', async () => {
  const ft = fakeTimers();
  let t = 1_000_000;
  const transport = { fetch: async () => ({ user_profile: { id: 5 } }), call: async () => ({ body: { result: null, invalidate: [] } }) };
  const gcTime = 2 ** 31 + 10_000; // ~24.9 days: TanStack #1646 / #10264 territory
  const c = createClient({ transport, now: () => t, timers: ft.timers, listen: false, gcTime });
  clients.push(c);
  const stop = c.subscribe('user', { user_id: 5 }, () => {});
  await waitFor(() => c.getSnapshot('user', { user_id: 5 }).isSuccess);
  stop();
  await sleep(0); // subscribe/unsubscribe flush on a microtask
  assert.equal(ft.pending().length, 1, 'one timer');
  assert.equal(ft.pending()[0].ms, 2 ** 31 - 1, 'clamped below the setTimeout limit');
  assert.ok(ft.delays.every((d) => d <= 2 ** 31 - 1));
  t += 2 ** 31 - 1;
  ft.fire();
  assert.equal(c.instanceCount(), 1, 'still cached after 2^31 - 1 ms');
  assert.equal(ft.pending().length, 1, 'rescheduled for the rest');
  assert.equal(ft.pending()[0].ms, gcTime - (2 ** 31 - 1));
  t += ft.pending()[0].ms;
  ft.fire();
  assert.equal(c.instanceCount(), 0, 'collected at gcTime');
  // TanStack-style `gcTime: Infinity` is accepted (the largest exact time).
  const c2 = createClient({ transport, now: () => t, timers: ft.timers, listen: false, gcTime: Infinity });
  clients.push(c2);
  c2.subscribe('user', { user_id: 1 }, () => {})();
  await sleep(0);
  assert.ok(ft.pending().length >= 1);
  assert.ok(ft.pending().every((p) => p.ms <= 2 ** 31 - 1));
});

test('timers: retries wait for the host timer (simulated clock)', async () => {
  const ft = fakeTimers();
  let t = 0;
  let n = 0;
  const transport = {
    fetch: async () => {
      n++;
      if (n < 3) throw new MizanRequestError({ status: 503, code: 'UNAVAILABLE', message: 'busy' });
      return { user_profile: { id: 5 } };
    },
    call: async () => ({ body: { result: null } }),
  };
  const c = createClient({ transport, now: () => t, timers: ft.timers, listen: false, seed: 7 });
  clients.push(c);
  const stop = c.subscribe('user', { user_id: 5 }, () => {});
  await waitFor(() => ft.pending().length === 1);
  assert.equal(n, 1);
  const d1 = ft.pending()[0].ms;
  assert.ok(d1 >= 500 && d1 <= 1000, `first backoff ${d1} in [base/2, base]`);
  t += d1;
  ft.fire();
  await waitFor(() => n === 2 && ft.pending().length === 1);
  const d2 = ft.pending()[0].ms;
  assert.ok(d2 >= 1000 && d2 <= 2000, `second backoff ${d2}`);
  t += d2;
  ft.fire();
  await waitFor(() => c.getSnapshot('user', { user_id: 5 }).isSuccess);
  assert.equal(n, 3);
  stop();
});

test('focus and online: browser events refetch stale observed instances (no-ops without them)', async () => {
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = 'visible';
  const c = client({ window: win, document: doc, listen: true });
  const u = watch(c, 'user', { user_id: 5 });
  await waitFor(() => u.get().isSuccess);
  doc.dispatchEvent(new Event('visibilitychange'));
  await waitFor(() => httpCount('user', 'user_id=5') === 2 && !u.get().isFetching);
  win.dispatchEvent(new Event('online'));
  await waitFor(() => httpCount('user', 'user_id=5') === 3 && !u.get().isFetching);
  doc.visibilityState = 'hidden';
  doc.dispatchEvent(new Event('visibilitychange'));
  u.stop();
  // Fresh data (staleTime) is not refetched on focus.
  const c2 = client({ window: win, document: doc, listen: true, staleTime: 60_000 });
  const u2 = watch(c2, 'user', { user_id: 6 });
  await waitFor(() => u2.get().isSuccess);
  doc.visibilityState = 'visible';
  doc.dispatchEvent(new Event('visibilitychange'));
  await sleep(30);
  assert.equal(httpCount('user', 'user_id=6'), 1);
  assert.equal(httpCount('user', 'user_id=5'), 3, 'the first client saw no event while hidden');
  u2.stop();
  c2.close();
  c.close();
  doc.dispatchEvent(new Event('visibilitychange')); // listeners removed on close
  await sleep(20);
  assert.equal(httpCount('user', 'user_id=6'), 1);
});

test('SSR: dehydrate on one client, hydrate from window.__MIZAN_SSR_DATA__ on another, no fetch at first paint', async () => {
  const server = client();
  await server.fetch('user', { user_id: 5 });
  await server.fetch('todos', { list_id: 1 });
  const payload = JSON.parse(JSON.stringify(server.dehydrate()));
  assert.equal(payload.version, 1);
  assert.equal(payload.instances.length, 2);
  const before = app.counts();
  const win = Object.assign(new EventTarget(), { __MIZAN_SSR_DATA__: payload });
  const browser = client({ window: win, staleTime: 30_000 });
  const snap = browser.getSnapshot('user', { user_id: 5 });
  assert.equal(snap.status, 'success');
  assert.equal(snap.data.user_profile.name, 'Rana');
  const stop = browser.subscribe('user', { user_id: 5 }, () => {});
  await sleep(30);
  assert.deepEqual(app.counts(), before, 'hydrated data is fresh: no request');
  stop();
  // A malformed page payload does not break the client (reported, then empty).
  const reported = [];
  const bad = client({ window: { __MIZAN_SSR_DATA__: { nope: 1 } }, onError: (e) => reported.push(e) });
  assert.equal(bad.instanceCount(), 0);
  assert.equal(reported.length, 1);
});

test('getSnapshot: a stable object; first sight creates the instance; unknown contexts are errors', async () => {
  const c = client({ staleTime: 60_000 });
  const s1 = c.getSnapshot('todos', { list_id: 3 });
  assert.equal(c.getSnapshot('todos', { list_id: 3 }), s1);
  assert.equal(s1.isFetching, true, 'first sight creates the instance and fetches (as prefetch)');
  await waitFor(() => c.getSnapshot('todos', { list_id: 3 }).isSuccess);
  const s2 = c.getSnapshot('todos', { list_id: 3 });
  assert.equal(c.getSnapshot('todos', { list_id: '3' }), s2);
  const err = await c.fetch('nope', {}).then(() => null, (e) => e);
  assert.equal(err.code, 'NOT_FOUND');
  assert.equal(httpCount('todos', 'list_id=3'), 1);
});

test('invalidate() and remove() from the host (server push, view responses)', async () => {
  const c = client();
  const l1 = watch(c, 'todos', { list_id: 1 });
  const l2 = watch(c, 'todos', { list_id: 2 });
  await waitFor(() => l1.get().isSuccess && l2.get().isSuccess);
  c.invalidate([{ context: 'todos', params: { list_id: '2' } }]);
  c.invalidate({ context: 'todos', params: { list_id: 2 } }); // coalesces with the running refetch
  await waitFor(() => httpCount('todos', 'list_id=2') >= 2 && !l2.get().isFetching);
  await sleep(20);
  assert.equal(httpCount('todos', 'list_id=1'), 1);
  assert.ok(httpCount('todos', 'list_id=2') <= 3);
  c.remove(['todos']);
  assert.equal(l1.get().data, undefined);
  await waitFor(() => l1.get().isSuccess && l2.get().isSuccess);
  l1.stop();
  l2.stop();
});

test('an invalidation during a fetch refetches once it settles (TanStack #2154, RTK #3622)', async () => {
  const c = client();
  const release = app.hold('ctx/todos/?list_id=1');
  const l1 = watch(c, 'todos', { list_id: 1 });
  await waitFor(() => app.count('ctx/todos/?list_id=1') === 1);
  c.invalidate(['todos']);
  c.invalidate(['todos']);
  release();
  await waitFor(() => httpCount('todos', 'list_id=1') === 2 && !l1.get().isFetching);
  await sleep(30);
  assert.equal(httpCount('todos', 'list_id=1'), 2, 'exactly one refetch for two invalidations');
  l1.stop();
});

test('Tauri transport (fake invoke): same consumer code; bare error payloads re-wrapped', async () => {
  const invocations = [];
  // The Tauri side answers with the same app's data (its HTTP endpoints stand in for the plugin).
  const invoke = async (cmd, { envelope }) => {
    invocations.push({ cmd, envelope });
    if (envelope.op === 'fetch') {
      const q = new URLSearchParams(Object.entries(envelope.params).map(([k, v]) => [k, String(v)])).toString();
      const res = await fetch(`${app.base}/ctx/${envelope.context}/${q ? `?${q}` : ''}`);
      const body = await res.json();
      if (!res.ok) throw body.error; // bare {code, message, details?}
      return body;
    }
    const res = await fetch(`${app.base}/call/`, { method: 'POST', headers: { 'X-CSRFToken': CSRF }, body: JSON.stringify({ fn: envelope.fn, args: envelope.args }) });
    const body = await res.json();
    if (!res.ok) throw JSON.stringify(body.error); // Tauri may hand errors over as JSON text
    return body; // no headers over IPC: the body carries the invalidations
  };
  const c = createClient({ transport: tauriTransport({ invoke }), listen: false, retryBaseMs: 4, retryMaxMs: 16 });
  clients.push(c);
  await mutationRefetchesExactlyTheAffectedInstance(c, httpCount);
  assert.ok(invocations.every((i) => i.cmd === 'plugin:mizan|mizan_invoke'));
  assert.deepEqual(invocations.find((i) => i.envelope.op === 'call').envelope, { op: 'call', fn: 'add_todo', args: { list_id: 2, title: 'jam' } });
  assert.deepEqual(invocations.find((i) => i.envelope.op === 'fetch').envelope, { op: 'fetch', context: 'todos', params: { list_id: 1 } });
  assert.equal(app.count('session/'), 0, 'no session over IPC');

  app.fail('ctx/user/?user_id=6', { status: 404, times: 10, body: { error: { code: 'NOT_FOUND', message: 'No such user' } } });
  const err = await c.fetch('user', { user_id: 6 }).then(() => null, (e) => e);
  assert.ok(err instanceof MizanRequestError);
  assert.equal(err.code, 'NOT_FOUND');
  assert.equal(httpCount('user', 'user_id=6'), 1, 'NOT_FOUND maps to a 4xx: not retried');
  app.fail('call/rename_todo', { status: 500 });
  const e2 = await c.mutate('rename_todo', { list_id: 1, id: 1, title: 'x' }).then(() => null, (e) => e);
  assert.ok(e2 instanceof MizanRequestError);
  assert.equal(e2.code, 'INTERNAL_ERROR');
  app.fail('ctx/user/?user_id=5', { status: 503, times: 1 });
  c.invalidate(['user']);
  c.getSnapshot('user', { user_id: 7 });
  await waitFor(() => c.getSnapshot('user', { user_id: 7 }).isSuccess);
  // An IPC failure that is not a Mizan payload is still a MizanRequestError.
  const broken = tauriTransport({ invoke: async () => Promise.reject('command not found') });
  const e3 = await broken.fetch({ context: 'x', params: {} }).then(() => null, (e) => e);
  assert.ok(e3 instanceof MizanRequestError);
  assert.equal(e3.code, 'IPC_ERROR');
  // Without an invoke and without @tauri-apps/api: a clear error, not a crash.
  const none = await tauriTransport().fetch({ context: 'x', params: {} }).then(() => null, (e) => e);
  assert.ok(none instanceof MizanRequestError);
  assert.equal(none.code, 'IPC_UNAVAILABLE');
});

test('channel transport over a MessageChannel, served by serveChannel + httpTransport', async () => {
  const { port1, port2 } = new MessageChannel();
  const stopServing = serveChannel(port2, httpTransport({ baseUrl: app.base }));
  const transport = channelTransport(port1);
  const c = createClient({ transport, listen: false, retryBaseMs: 4, retryMaxMs: 16 });
  clients.push(c);
  try {
    await mutationRefetchesExactlyTheAffectedInstance(c, httpCount);
    assert.equal(app.count('session/'), 1, 'the session crossed the channel');
    assert.equal(app.calls[0].csrf, CSRF);
    app.fail('ctx/user/?user_id=6', { status: 404, times: 10, body: { error: { code: 'NOT_FOUND', message: 'No such user' } } });
    const err = await c.fetch('user', { user_id: 6 }).then(() => null, (e) => e);
    assert.ok(err instanceof MizanRequestError);
    assert.equal(err.code, 'NOT_FOUND');
    const direct = await transport.fetch({ context: 'user', params: { user_id: 6 }, query: 'user_id=6' }).then(() => null, (e) => e);
    assert.ok(direct instanceof MizanRequestError);
    assert.equal(direct.status, 404, 'the HTTP status survives the channel');
    assert.equal(httpCount('user', 'user_id=6'), 2);
  } finally {
    c.close();
    transport.close();
    stopServing();
    port1.close();
    port2.close();
  }
});

test('a kernel trap: the client starts over on the fresh instance and re-subscribes', async () => {
  const c = client();
  const u = watch(c, 'user', { user_id: 5 });
  await waitFor(() => u.get().isSuccess);
  const release = app.hold('call/');
  await c.start();
  const pending = c.mutate('rename_user', { user_id: 5, name: 'x' });
  const gen = api.instanceGeneration();
  v8.setFlagsFromString('--wasm-max-mem-pages=256');
  try {
    assert.equal(memoryTrap(2_000_000)?.code, 'trap');
  } finally {
    v8.setFlagsFromString('--wasm-max-mem-pages=4294967295');
  }
  assert.equal(api.instanceGeneration(), gen + 1);
  const s = c.getSnapshot('user', { user_id: 5 });
  assert.equal(s.data, undefined, 'the store came back empty');
  const err = await pending.then(() => null, (e) => e);
  assert.equal(err.code, 'TRAP');
  release();
  await waitFor(() => u.get().isSuccess, 5000, 'refetched after the trap');
  assert.equal(u.seen.at(-1), u.get(), 'the listener heard about it');
  assert.equal(httpCount('user', 'user_id=5'), 2);
  u.stop();
});

test('a transport that answers garbage fails the fetch or the call instead of hanging', async () => {
  let answer;
  const transport = { fetch: async () => answer, call: async () => answer };
  const c = createClient({ transport, listen: false, retry: false });
  clients.push(c);
  answer = undefined;
  const e1 = await c.fetch('user', { user_id: 1 }).then(() => null, (e) => e);
  assert.equal(e1.code, 'INVALID_RESPONSE');
  answer = [1, 2];
  const e2 = await c.fetch('user', { user_id: 2 }).then(() => null, (e) => e);
  assert.equal(e2.code, 'INVALID_RESPONSE', 'a bundle must be an object (the kernel says so)');
  answer = { nobody: true };
  const e3 = await c.mutate('f', {}).then(() => null, (e) => e);
  assert.equal(e3.code, 'INVALID_RESPONSE');
  answer = { body: { result: 1, invalidate: 'not a list' } };
  const e4 = await c.mutate('f', {}).then(() => null, (e) => e);
  assert.equal(e4.code, 'INVALID_RESPONSE');
  answer = { body: { result: 7, invalidate: [] } };
  assert.equal(await c.mutate('f', {}), 7);
});
